#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lzfse.h"
#include "lzfse_decode_base.c"
static unsigned char *slurp(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb"); fseek(f, 0, SEEK_END); *n = ftell(f); fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n + 1); fread(b, 1, *n, f); fclose(f); return b;
}
static void spit(const char *p, const void *b, size_t n) { FILE *f = fopen(p, "wb"); fwrite(b, 1, n, f); fclose(f); }
int main(int argc, char **argv) {
  size_t n; unsigned char *in = slurp(argv[2], &n);
  size_t cap = 2 * n + 4096; unsigned char *out = malloc(cap); size_t o = 0;
  if (!strcmp(argv[1], "enc")) { o = lzfse_encode_buffer(out, cap, in, n, NULL); }
  else if (!strcmp(argv[1], "dec")) { cap = 1 << 24; out = realloc(out, cap); o = lzfse_decode_buffer(out, cap, in, n, NULL); }
  else if (!strcmp(argv[1], "v1")) {
    size_t p = 0;
    for (;;) {
      uint32_t m = load4(in + p);
      if (m == LZFSE_ENDOFSTREAM_BLOCK_MAGIC) { memcpy(out + o, in + p, 4); o += 4; break; }
      if (m == LZFSE_COMPRESSEDV2_BLOCK_MAGIC) {
        lzfse_compressed_block_header_v1 h;
        const lzfse_compressed_block_header_v2 *h2 = (const void *)(in + p);
        if (lzfse_decode_v1(&h, h2) != 0) { fprintf(stderr, "bad v2\n"); return 1; }
        size_t hs = lzfse_decode_v2_header_size(h2);
        size_t pl = h.n_literal_payload_bytes + h.n_lmd_payload_bytes;
        memcpy(out + o, &h, sizeof h); o += sizeof h;
        memcpy(out + o, in + p + hs, pl); o += pl; p += hs + pl;
      } else { fprintf(stderr, "only bvx2 blocks\n"); return 1; }
    }
  }
  spit(argv[3], out, o); fprintf(stderr, "%s: %zu bytes\n", argv[3], o); return 0;
}
