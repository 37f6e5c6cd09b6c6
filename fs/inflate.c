/*
 * inflate.c - gzip and zstd decompression as a stream stage (inflate.h).
 *
 * States: DETECT holds up to four first bytes until they say gzip
 * (1f 8b), zstd (28 b5 2f fd, or a skippable frame's 5? 2a 4d 18) or
 * neither; PLAIN passes bytes through;
 * GZIP and ZSTD decompress; FAILED keeps the first error. Between gzip
 * members (gzip -c a >x; gzip -c b >>x) the next bytes must begin a new
 * member, as zcat reads them; zero bytes there (tape padding) are skipped
 * as gzip skips them; anything else is trailing garbage and fails, where
 * zcat only warns: a loader that commits all or nothing must not guess.
 * libzstd reads concatenated and skippable frames itself.
 */
#include "inflate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define OUT_SIZE (128u << 10)

enum state { DETECT, PLAIN, GZIP, ZSTD, FAILED };

struct pcf_inflate {
	enum state state;
	enum pcf_inflate_mode mode;
	unsigned char magic[4]; /* DETECT: the first bytes, held */
	size_t nmagic;
	z_stream zs;
	int zs_ready;       /* inflateInit2 done */
	int in_member;      /* GZIP: a member begun and not ended */
	ZSTD_DCtx *zd;
	size_t zstd_left;   /* ZSTD: the last hint; 0 between frames */
	int zstd_started;   /* ZSTD: a frame's byte seen */
	char *out;
	unsigned long long in_bytes, out_bytes;
	char error[200];
};

static const unsigned char GZIP_MAGIC[2] = { 0x1f, 0x8b };
static const unsigned char ZSTD_MAGIC[4] = { 0x28, 0xb5, 0x2f, 0xfd };

struct pcf_inflate *pcf_inflate_new(enum pcf_inflate_mode mode)
{
	struct pcf_inflate *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->mode = mode;
	z->state = mode == PCF_INFLATE_PLAIN ? PLAIN : DETECT;
	return z;
}

void pcf_inflate_free(struct pcf_inflate *z)
{
	if (!z)
		return;
	if (z->zs_ready)
		inflateEnd(&z->zs);
	ZSTD_freeDCtx(z->zd);
	free(z->out);
	free(z);
}

const char *pcf_inflate_codec(const struct pcf_inflate *z)
{
	if (z->state == GZIP || (z->state == FAILED && z->zs_ready))
		return "gzip";
	if (z->state == ZSTD || (z->state == FAILED && z->zd))
		return "zstd";
	return NULL;
}

unsigned long long pcf_inflate_in(const struct pcf_inflate *z)
{
	return z->in_bytes;
}

unsigned long long pcf_inflate_out_bytes(const struct pcf_inflate *z)
{
	return z->out_bytes;
}

static int fail(struct pcf_inflate *z, char *err, size_t errlen,
		const char *fmt, const char *detail)
{
	if (z->state != FAILED) {
		snprintf(z->error, sizeof(z->error), fmt, detail ? detail : "");
		z->state = FAILED;
	}
	snprintf(err, errlen, "%s", z->error);
	return -EIO;
}

static int emit(struct pcf_inflate *z, const char *buf, size_t len,
		pcf_inflate_out out, void *ctx)
{
	if (len == 0)
		return 0;
	z->out_bytes += len;
	return out(ctx, buf, len);
}

static int start_gzip(struct pcf_inflate *z)
{
	if (!z->out && !(z->out = malloc(OUT_SIZE)))
		return -ENOMEM;
	/* 15 + 16: a gzip wrapper, the largest window. */
	if (inflateInit2(&z->zs, 15 + 16) != Z_OK)
		return -ENOMEM;
	z->zs_ready = 1;
	z->state = GZIP;
	return 0;
}

static int start_zstd(struct pcf_inflate *z)
{
	if (!z->out && !(z->out = malloc(OUT_SIZE)))
		return -ENOMEM;
	if (!(z->zd = ZSTD_createDCtx()))
		return -ENOMEM;
	z->state = ZSTD;
	return 0;
}

static int feed_gzip(struct pcf_inflate *z, const unsigned char *p,
		     size_t len, pcf_inflate_out out, void *ctx, char *err,
		     size_t errlen)
{
	int rc;

	while (len > 0) {
		if (!z->in_member) {
			/* Between members: padding, a new member, or not
			 * gzip at all. */
			if (p[0] == 0) {
				p++, len--;
				continue;
			}
			if (p[0] != GZIP_MAGIC[0])
				return fail(z, err, errlen,
					    "trailing bytes after the gzip data "
					    "that are not a gzip member%s",
					    NULL);
			if (inflateReset(&z->zs) != Z_OK)
				return fail(z, err, errlen, "gzip: %s", "reset");
			z->in_member = 1;
		}
		z->zs.next_in = (unsigned char *)p;
		z->zs.avail_in = (uInt)(len > (1u << 30) ? (1u << 30) : len);
		do {
			size_t before = z->zs.avail_in, made;
			int zr;

			z->zs.next_out = (unsigned char *)z->out;
			z->zs.avail_out = OUT_SIZE;
			zr = inflate(&z->zs, Z_NO_FLUSH);
			made = OUT_SIZE - z->zs.avail_out;
			if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT ||
			    zr == Z_STREAM_ERROR)
				return fail(z, err, errlen, "corrupt gzip data: %s",
					    z->zs.msg ? z->zs.msg : "bad data");
			if (zr == Z_MEM_ERROR)
				return -ENOMEM;
			if ((rc = emit(z, z->out, made, out, ctx)) != 0)
				return rc;
			if (zr == Z_STREAM_END) {
				z->in_member = 0;
				break;
			}
			if (zr == Z_BUF_ERROR && made == 0 &&
			    before == z->zs.avail_in)
				break; /* wants more input */
		} while (z->zs.avail_in > 0 || z->zs.avail_out == 0);
		size_t used = (size_t)((const unsigned char *)z->zs.next_in - p);

		p += used;
		len -= used;
	}
	return 0;
}

static int feed_zstd(struct pcf_inflate *z, const unsigned char *p,
		     size_t len, pcf_inflate_out out, void *ctx, char *err,
		     size_t errlen)
{
	ZSTD_inBuffer in = { p, len, 0 };
	int rc;

	if (len > 0)
		z->zstd_started = 1;
	while (in.pos < in.size) {
		ZSTD_outBuffer o = { z->out, OUT_SIZE, 0 };
		size_t r = ZSTD_decompressStream(z->zd, &o, &in);

		if (ZSTD_isError(r))
			return fail(z, err, errlen, "corrupt zstd data: %s",
				    ZSTD_getErrorName(r));
		z->zstd_left = r;
		if ((rc = emit(z, z->out, o.pos, out, ctx)) != 0)
			return rc;
		/* A full buffer may hold back more of what is in hand; a frame
		 * that just ended (0) holds nothing, and calling again with
		 * no input would begin reading a next frame's header. */
		while (o.pos == o.size && r != 0) {
			o.pos = 0;
			r = ZSTD_decompressStream(z->zd, &o, &in);
			if (ZSTD_isError(r))
				return fail(z, err, errlen,
					    "corrupt zstd data: %s",
					    ZSTD_getErrorName(r));
			z->zstd_left = r;
			if ((rc = emit(z, z->out, o.pos, out, ctx)) != 0)
				return rc;
		}
	}
	return 0;
}

/* DETECT decided: the held bytes go to the state chosen. */
static int decided(struct pcf_inflate *z, enum state st, pcf_inflate_out out,
		   void *ctx, char *err, size_t errlen);

static int feed_state(struct pcf_inflate *z, const unsigned char *p,
		      size_t len, pcf_inflate_out out, void *ctx, char *err,
		      size_t errlen)
{
	switch (z->state) {
	case PLAIN:
		return emit(z, (const char *)p, len, out, ctx);
	case GZIP:
		return feed_gzip(z, p, len, out, ctx, err, errlen);
	case ZSTD:
		return feed_zstd(z, p, len, out, ctx, err, errlen);
	default:
		return fail(z, err, errlen, "%s", NULL);
	}
}

static int decided(struct pcf_inflate *z, enum state st, pcf_inflate_out out,
		   void *ctx, char *err, size_t errlen)
{
	int rc = 0;

	if (st == GZIP)
		rc = start_gzip(z);
	else if (st == ZSTD)
		rc = start_zstd(z);
	else
		z->state = PLAIN;
	if (rc)
		return rc;
	rc = feed_state(z, z->magic, z->nmagic, out, ctx, err, errlen);
	z->nmagic = 0;
	return rc;
}

/* What the first bytes held say: GZIP, ZSTD, PLAIN, or DETECT (unsure). */
static enum state verdict(const struct pcf_inflate *z, int ended)
{
	size_t n = z->nmagic;

	if (n >= 1 && z->magic[0] == GZIP_MAGIC[0]) {
		if (n >= 2)
			return z->magic[1] == GZIP_MAGIC[1] ? GZIP : PLAIN;
	} else if (n >= 1 && z->magic[0] == ZSTD_MAGIC[0]) {
		for (size_t i = 1; i < n; i++)
			if (z->magic[i] != ZSTD_MAGIC[i])
				return PLAIN;
		if (n >= 4)
			return ZSTD;
	} else if (n >= 1 && (z->magic[0] & 0xf0) == 0x50) {
		/* A zstd skippable frame first: 0x184D2A5? little-endian. */
		static const unsigned char skip[4] = { 0, 0x2a, 0x4d, 0x18 };

		for (size_t i = 1; i < n; i++)
			if (z->magic[i] != skip[i])
				return PLAIN;
		if (n >= 4)
			return ZSTD;
	} else if (n >= 1) {
		return PLAIN;
	}
	return ended ? PLAIN : DETECT;
}

int pcf_inflate_feed(struct pcf_inflate *z, const char *buf, size_t len,
		     pcf_inflate_out out, void *ctx, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)buf;

	unsigned long long before = z->in_bytes;

	if (z->state == FAILED)
		return fail(z, err, errlen, "%s", NULL);
	z->in_bytes += len;
	if (z->state == DETECT && z->mode == PCF_INFLATE_GZIP) {
		int rc = start_gzip(z);

		if (rc)
			return rc;
	} else if (z->state == DETECT && z->mode == PCF_INFLATE_ZSTD) {
		int rc = start_zstd(z);

		if (rc)
			return rc;
	}
	if (z->state == GZIP && before == 0 && len > 0 &&
	    z->mode == PCF_INFLATE_GZIP &&
	    (p[0] != GZIP_MAGIC[0] || (len > 1 && p[1] != GZIP_MAGIC[1])))
		return fail(z, err, errlen,
			    "not gzip data, though the file's name ends in "
			    ".gz%s", NULL);
	while (z->state == DETECT && len > 0) {
		enum state st;

		z->magic[z->nmagic++] = *p++;
		len--;
		if ((st = verdict(z, 0)) != DETECT) {
			int rc = decided(z, st, out, ctx, err, errlen);

			if (rc)
				return rc;
		}
	}
	if (len == 0)
		return 0;
	return feed_state(z, p, len, out, ctx, err, errlen);
}

int pcf_inflate_finish(struct pcf_inflate *z, pcf_inflate_out out, void *ctx,
		       char *err, size_t errlen)
{
	if (z->state == FAILED)
		return fail(z, err, errlen, "%s", NULL);
	if (z->state == DETECT) {
		if (z->nmagic == 0)
			return 0;
		return decided(z, verdict(z, 1), out, ctx, err, errlen);
	}
	if (z->state == GZIP && z->in_member)
		return fail(z, err, errlen,
			    "the gzip data ends early (truncated)%s", NULL);
	if (z->state == ZSTD && z->zstd_started && z->zstd_left != 0)
		return fail(z, err, errlen,
			    "the zstd data ends early (truncated)%s", NULL);
	return 0;
}
