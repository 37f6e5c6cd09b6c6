/*
 * inflate.h - the decompression stage of a load's stream: the bytes
 * written, gzip or zstd, in; the text they hold out, to the next stage.
 *
 *   write() bytes -> pcf_inflate_feed -> out(text) -> the format stage
 *
 * Pure (zlib and libzstd, no I/O): feed any cut of the stream, in order;
 * pcf_inflate_finish says whether it ended where a compressed stream may
 * end. Memory is flat: one output buffer and the library's window.
 */
#ifndef PCF_INFLATE_H
#define PCF_INFLATE_H

#include <stddef.h>

enum pcf_inflate_mode {
	PCF_INFLATE_DETECT, /* gzip or zstd by the magic bytes, else plain */
	PCF_INFLATE_PLAIN,  /* never decompress (-o decompress=off) */
	PCF_INFLATE_GZIP,   /* the name says .gz: gzip, one member or more */
	PCF_INFLATE_ZSTD,   /* the name says .zst: zstd, one frame or more */
};

/* Where decompressed bytes go: 0, or -errno to stop (returned as is). */
typedef int (*pcf_inflate_out)(void *ctx, const char *buf, size_t len);

struct pcf_inflate;

/* A stage for one stream; NULL when out of memory. */
struct pcf_inflate *pcf_inflate_new(enum pcf_inflate_mode mode);
void pcf_inflate_free(struct pcf_inflate *z);

/*
 * Takes the next len bytes of the stream, passing what they decompress to
 * out. 0, out's -errno, or -EIO for data that is not what it must be
 * (corrupt, not gzip under .gz, trailing garbage): then err holds why, in
 * words for the writer ("corrupt gzip data: invalid block type"), and
 * every later call fails the same way.
 */
int pcf_inflate_feed(struct pcf_inflate *z, const char *buf, size_t len,
		     pcf_inflate_out out, void *ctx, char *err, size_t errlen);

/*
 * The stream ended: passes on bytes still held (a plain stream's first
 * bytes, kept while the magic was unsure). 0, out's -errno, or -EIO when
 * the compressed stream stopped inside a member or frame (err: "the gzip
 * data ends early (truncated)").
 */
int pcf_inflate_finish(struct pcf_inflate *z, pcf_inflate_out out, void *ctx,
		       char *err, size_t errlen);

/* "gzip", "zstd", or NULL while plain or undecided: for status and
 * messages. */
const char *pcf_inflate_codec(const struct pcf_inflate *z);

/* Compressed bytes taken and text bytes given so far. */
unsigned long long pcf_inflate_in(const struct pcf_inflate *z);
unsigned long long pcf_inflate_out_bytes(const struct pcf_inflate *z);

#endif
