package org.vdmount.vd.format.luks;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.List;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.crypto.CryptRegion;
import org.vdmount.vd.crypto.LuksHeader;
import org.vdmount.vd.crypto.LuksUnlock;
import org.vdmount.vd.crypto.LuksWriter;
import org.vdmount.vd.crypto.SectorCipher;
import org.vdmount.vd.storage.StorageScope;

/**
 * Raw LUKS volumes (qemu's {@code -f luks}, cryptsetup's LUKS1 and LUKS2 on a file): the disk is
 * the decrypted payload, from the payload offset to the end of the file. The password comes from
 * {@link OpenOptions#secrets()}; the decryption is the {@link CryptRegion} filter.
 */
public final class LuksFormat extends DeclaredFormat {
    static final CreateOption VERSION = CreateOption.choice("luks-version", "2",
            "LUKS header version (2, as cryptsetup; qemu 7 reads only 1)", "1", "2");
    static final CreateOption CIPHER = CreateOption.choice("cipher-alg", "aes-256", "payload cipher",
            "aes-128", "aes-192", "aes-256");
    static final CreateOption MODE = CreateOption.choice("cipher-mode", "xts", "cipher mode", "xts", "cbc");
    static final CreateOption IVGEN = CreateOption.choice("ivgen-alg", "plain64", "IV generator", "plain", "plain64",
            "essiv");
    static final CreateOption IVHASH = CreateOption.choice("ivgen-hash-alg", "sha256", "hash of the essiv IV generator",
            "sha1", "sha256", "sha512");
    static final CreateOption HASH = CreateOption.choice("hash-alg", "sha256",
            "hash of PBKDF2, the anti-forensic splitter and the digest", "sha1", "sha256", "sha512");
    static final CreateOption ITER_TIME = CreateOption.number("iter-time", "2000",
            "milliseconds of PBKDF2 for the key slot (its iteration count is measured on this machine)");
    static final CreateOption PBKDF = CreateOption.choice("pbkdf", null,
            "key slot KDF (default: argon2id for LUKS2, pbkdf2 for LUKS1, which has only it)", "pbkdf2", "argon2i",
            "argon2id");
    static final CreateOption ARGON_TIME = CreateOption.number("argon2-time", "4", "argon2 passes");
    static final CreateOption ARGON_MEMORY = CreateOption.number("argon2-memory", "262144", "argon2 memory in KiB");
    static final CreateOption ARGON_LANES = CreateOption.number("argon2-parallel", "4", "argon2 lanes");
    static final CreateOption SECTOR = CreateOption.choice("sector-size", "512",
            "encryption sector of a LUKS2 payload (LUKS1: 512 only)", "512", "4096");

    static final CreateOption PREALLOCATION = CreateOption.choice("preallocation", "off",
            "off: the payload is left as it is (unwritten sectors read as noise, as with qemu and cryptsetup); "
                    + "full: encrypted zeros are written over all of it (it reads as zeros)", "off", "full");

    public LuksFormat() {
        super("luks", List.of("luks"), reads(WRITE, CREATE, CREATE_FIXED), List.of(VERSION, CIPHER, MODE, IVGEN,
                IVHASH, HASH, ITER_TIME, PBKDF, ARGON_TIME, ARGON_MEMORY, ARGON_LANES, SECTOR, PREALLOCATION));
    }

    @Override
    public int probe(ProbeInput in) {
        return !in.directory() && LuksHeader.hasMagic(in.head()) ? 100 : 0;
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return StorageScope.open(path, options.readOnly(), storage -> {
            LuksHeader header = LuksHeader.read(storage, name(), path);
            SectorCipher cipher = LuksUnlock.open(storage, header, options.secrets().password(path.toString()), name(),
                    path);
            return new LuksImage(this, storage, header, cipher);
        });
    }

    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        LuksWriter.Params p = params(options);
        if (options.virtualSize() % p.sectorSize() != 0) {
            throw new UnsupportedFeatureException(name() + ": size " + options.virtualSize()
                    + " is not a multiple of the " + p.sectorSize() + "-byte encryption sector");
        }
        byte[] password = options.secrets().password(path.toString());
        return StorageScope.create(path, fs -> {
            LuksWriter.Opened o;
            try {
                o = LuksWriter.create(fs, p, password);
            } catch (GeneralSecurityException e) {
                throw new UnsupportedFeatureException(name() + ": " + path + ": " + e.getMessage());
            }
            fs.truncate(o.payloadOffset() + options.virtualSize());
            LuksHeader header = LuksHeader.read(fs, name(), path);
            LuksImage image = new LuksImage(this, fs, header, o.cipher());
            if (options.get(PREALLOCATION).equals("full")) {
                image.discard(0, image.virtualSize()); // encrypted zeros over the whole payload
            }
            return image;
        });
    }

    /**
     * The options of a LUKS header inside another format (qcow2's encrypt.*): cipher, IV, hash
     * and PBKDF2 time; such headers are LUKS1 with a PBKDF2 slot, as qemu writes and reads them.
     */
    public static List<CreateOption> embeddedOptions() {
        return List.of(CIPHER, MODE, IVGEN, IVHASH, HASH, ITER_TIME);
    }

    /** The writer's parameters for an embedded header from {@link #embeddedOptions()} (checked against them). */
    public static LuksWriter.Params embeddedParams(CreateOptions o) throws UnsupportedFeatureException {
        return params(o.with(VERSION.name(), "1"));
    }

    /** The writer's parameters from the -o options (qemu's names where qemu has them). */
    static LuksWriter.Params params(CreateOptions o) throws UnsupportedFeatureException {
        int version = Integer.parseInt(o.get(VERSION));
        String alg = o.get(CIPHER);
        int aesBytes = Integer.parseInt(alg.substring(4)) / 8;
        String mode = o.get(MODE);
        String ivgen = o.get(IVGEN);
        String modeSpec = mode + "-" + (ivgen.equals("essiv") ? "essiv:" + o.get(IVHASH) : ivgen);
        int keyBytes = mode.equals("xts") ? 2 * aesBytes : aesBytes;
        String kdf = o.get(PBKDF, version == 1 ? "pbkdf2" : "argon2id");
        int sector = Integer.parseInt(o.get(SECTOR));
        if (version == 1 && !kdf.equals("pbkdf2")) {
            throw new UnsupportedFeatureException("luks: pbkdf=" + kdf + " needs luks-version=2 (LUKS1 has only pbkdf2)");
        }
        if (version == 1 && sector != 512) {
            throw new UnsupportedFeatureException("luks: sector-size=" + sector + " needs luks-version=2");
        }
        if (o.has(IVHASH) && !ivgen.equals("essiv")) {
            throw new UnsupportedFeatureException("luks: ivgen-hash-alg applies only to ivgen-alg=essiv");
        }
        long iterTime = o.number(ITER_TIME);
        long time = o.number(ARGON_TIME);
        long mem = o.number(ARGON_MEMORY);
        long lanes = o.number(ARGON_LANES);
        if (iterTime < 1 || iterTime > 100_000 || time < 1 || time > 1000 || lanes < 1 || lanes > 16
                || mem < 8 * lanes || mem > 4L << 20) {
            throw new UnsupportedFeatureException("luks: iter-time (1..100000 ms), argon2-time (1..1000), "
                    + "argon2-parallel (1..16) or argon2-memory (8*lanes..4194304 KiB) out of range");
        }
        return new LuksWriter.Params(version, "aes", modeSpec, keyBytes, o.get(HASH), kdf, iterTime, (int) time,
                (int) mem, (int) lanes, sector);
    }
}
