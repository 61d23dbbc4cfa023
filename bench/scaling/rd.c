/*
 * rd FILE rand4k|seq1m THREADS SECONDS DIRECT(0|1): THREADS threads read FILE with pread(2) for
 * SECONDS (4 KiB at random 4 KiB-aligned offsets, or 1 MiB blocks in order, each thread from its
 * own start), O_DIRECT when DIRECT is 1; prints one line: file, mode, threads, reads/s, MB/s.
 * The load generator of bench/scaling-run.sh, for machines without fio.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 512

static const char *file;
static int random_reads, direct;
static size_t block;
static off_t blocks;
static volatile int stopping;
static long long done[MAX_THREADS];

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *reader(void *arg) {
    long id = (long) arg;
    int fd = open(file, O_RDONLY | (direct ? O_DIRECT : 0));
    void *buf;
    if (fd < 0 || posix_memalign(&buf, 4096, block) != 0) {
        perror(file);
        exit(1);
    }
    uint64_t x = 0x9E3779B97F4A7C15ULL * (uint64_t) (id + 1); /* xorshift64 state, per thread */
    off_t next = blocks * id / MAX_THREADS;
    long long n = 0;
    while (!stopping) {
        off_t at;
        if (random_reads) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            at = (off_t) (x % (uint64_t) blocks);
        } else {
            at = next;
            next = (next + 1) % blocks;
        }
        if (pread(fd, buf, block, at * (off_t) block) != (ssize_t) block) {
            perror("pread");
            exit(1);
        }
        n++;
    }
    done[id] = n;
    close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: rd FILE rand4k|seq1m THREADS SECONDS DIRECT(0|1)\n");
        return 2;
    }
    file = argv[1];
    random_reads = strcmp(argv[2], "rand4k") == 0;
    block = random_reads ? 4096 : 1 << 20;
    int threads = atoi(argv[3]);
    double secs = atof(argv[4]);
    direct = atoi(argv[5]);
    struct stat st;
    if (stat(file, &st) != 0 || threads < 1 || threads > MAX_THREADS || secs <= 0) {
        fprintf(stderr, "rd: bad file or arguments\n");
        return 2;
    }
    blocks = st.st_size / (off_t) block;
    if (blocks < 1) {
        fprintf(stderr, "rd: %s is smaller than one block\n", file);
        return 2;
    }
    pthread_t t[MAX_THREADS];
    double t0 = seconds_now();
    for (long i = 0; i < threads; i++) {
        pthread_create(&t[i], NULL, reader, (void *) i);
    }
    while (seconds_now() - t0 < secs) {
        usleep(10000);
    }
    stopping = 1;
    long long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += done[i];
    }
    double elapsed = seconds_now() - t0;
    printf("%s %s threads=%d direct=%d ops/s=%.0f MB/s=%.1f\n", file, argv[2], threads, direct,
           total / elapsed, total * (double) block / elapsed / 1e6);
    return 0;
}
