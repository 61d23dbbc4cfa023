package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.UUID;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * Metadata changes of a writable image and their way to the file: a session first updates the
 * headers (new FileWriteGuid, DataWriteGuid and LogGuid); changed BAT and sector bitmap pages
 * collect in memory and a commit forces the data, writes them as log entries, forces the log,
 * writes them in place and forces again (MS-VHDX 2.3). Closing commits and clears the LogGuid.
 * All methods run under the image's allocation lock.
 */
final class Journal {
    /** A sector bitmap block is 1 MiB (MS-VHDX 2.5.1): 256 log pages. */
    private static final long PAGES_PER_BITMAP_BLOCK = Vhdx.MIB / Vhdx.LOG_SECTOR;
    private final VhdxFile file;
    private final Headers headers;
    private final Bat bat;
    private final SectorBitmaps bitmaps;
    private final LogWriter log;
    private final TreeSet<Integer> batPages = new TreeSet<>();
    /**
     * The changed sector bitmap pages, as chunk × {@link #PAGES_PER_BITMAP_BLOCK} + page in its
     * bitmap block: what a commit writes, so what {@link #pending} counts. A block's bitmap is a
     * fraction of a page where blocks are small (eight 2 MiB blocks share one); counting changed
     * blocks instead committed up to eight times as often as the log needed (4 KiB random writes
     * into a differencing image forced the file three times every ~250 writes).
     */
    private final TreeSet<Long> bitmapPages = new TreeSet<>();
    private boolean session;

    Journal(VhdxFile file, Headers headers, Bat bat, SectorBitmaps bitmaps) {
        this.file = file;
        this.headers = headers;
        this.bat = bat;
        this.bitmaps = bitmaps;
        VhdxHeader h = headers.current();
        this.log = new LogWriter(file, h.logOffsetBytes(), h.logLengthBytes());
    }

    Headers headers() {
        return headers;
    }

    boolean inSession() {
        return session;
    }

    /** Before the first change of a session: new write GUIDs and a fresh log (MS-VHDX 2.2.2). */
    void begin() throws IOException {
        if (session) {
            return;
        }
        if (log.maxPages() < 1) {
            throw new UnsupportedFeatureException("vhdx: " + file.path()
                    + " has no log large enough to record metadata changes");
        }
        UUID logGuid = UUID.randomUUID();
        headers.update(file, UUID.randomUUID(), UUID.randomUUID(), logGuid);
        log.reset(logGuid);
        session = true;
    }

    void batChanged(int index) {
        batPages.add(index / Bat.ENTRIES_PER_PAGE);
    }

    void bitmapChanged(long block) {
        long chunk = block / bat.chunkRatio;
        for (long p = bitmaps.firstPage(block); p <= bitmaps.lastPage(block); p++) {
            bitmapPages.add(chunk * PAGES_PER_BITMAP_BLOCK + p);
        }
    }

    /** The pages a commit would write now. */
    int pending() {
        return batPages.size() + bitmapPages.size();
    }

    int maxPagesPerEntry() {
        return log.maxPages();
    }

    /** Makes written data and every pending metadata change durable. */
    void commit() throws IOException {
        if (pending() == 0) {
            file.force("data-flush");
            return;
        }
        file.force("data-flush"); // data before the metadata that points at it
        List<LogWriter.Page> pages = new ArrayList<>();
        for (long key : bitmapPages) { // bitmaps before the BAT entries that make them count
            long chunk = key / PAGES_PER_BITMAP_BLOCK;
            int p = (int) (key % PAGES_PER_BITMAP_BLOCK);
            long sb = Bat.offset(bat.get(bat.bitmapIndex(chunk)));
            pages.add(new LogWriter.Page(sb + (long) p * Vhdx.LOG_SECTOR, bitmaps.page(chunk, sb, p)));
        }
        for (int p : batPages) {
            pages.add(new LogWriter.Page(bat.pageFileOffset(p), bat.page(p)));
        }
        throughLog(pages);
        batPages.clear();
        bitmapPages.clear();
    }

    /**
     * Writes {@code pages} (4 KiB each, at their file offsets) as log entries, forces the log, then
     * writes them in place and forces again (MS-VHDX 2.3.1): a crash replays or drops each entry
     * whole. Pages that must change together (a resize's BAT pages and its size item) must fit one
     * entry ({@link #maxPagesPerEntry}). The session must have begun.
     */
    void throughLog(List<LogWriter.Page> pages) throws IOException {
        int max = log.maxPages();
        for (int from = 0; from < pages.size(); from += max) {
            List<LogWriter.Page> entry = pages.subList(from, Math.min(pages.size(), from + max));
            log.write(entry, file.storage().size());
            file.force("log-flush");
            for (LogWriter.Page p : entry) {
                file.writeMeta(p.bytes(), p.fileOffset(), "apply-write");
            }
            file.force("apply-flush");
        }
    }

    /**
     * Commits what is pending, then writes {@code pages} (metadata region pages, MS-VHDX 2.6) the
     * same way: as log entries, forced, then in place, forced. A crash leaves the old pages or,
     * once the entry is in the log, the new ones (replayed at the next open).
     */
    void commitPages(List<LogWriter.Page> pages) throws IOException {
        commit();
        throughLog(pages);
    }

    /** Commits and marks the log empty (LogGuid 0): the file is clean. */
    void end() throws IOException {
        if (!session) {
            return;
        }
        commit();
        VhdxHeader h = headers.current();
        headers.update(file, h.fileWriteGuid(), h.dataWriteGuid(), Vhdx.ZERO_GUID);
        session = false;
    }
}
