package org.vdmount.mount.fuse.kernel;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.vdmount.mount.fuse.FuseOps;

/** What the channels of one mount share: the file system, its options, its node ids and its fate. */
final class Session {
    /** Background requests (async reads, async direct I/O) in flight at once: room for QD 64. */
    static final int MAX_BACKGROUND = 64;

    private final FuseOps ops;
    private final MountOptions options;
    private final NodeTable nodes = new NodeTable();
    private final AtomicBoolean initialized = new AtomicBoolean();
    private final CountDownLatch init = new CountDownLatch(1);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    Session(FuseOps ops, MountOptions options) {
        this.ops = ops;
        this.options = options;
    }

    FuseOps ops() {
        return ops;
    }

    MountOptions options() {
        return options;
    }

    NodeTable nodes() {
        return nodes;
    }

    /** INIT was answered: the first time, the file system hears of it. */
    void initialized() {
        if (initialized.compareAndSet(false, true)) {
            ops.initialized();
            init.countDown();
        }
    }

    /** Waits up to {@code millis} for INIT; true once it was answered. */
    boolean awaitInitialized(long millis) throws InterruptedException {
        return init.await(millis, TimeUnit.MILLISECONDS);
    }

    void failed(Throwable t) {
        failure.compareAndSet(null, t);
    }

    /** The first failure of any channel, or null. */
    Throwable failure() {
        return failure.get();
    }
}
