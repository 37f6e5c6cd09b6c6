/*
 * scan.c - the incremental record scanner, for CSV and for COPY's text
 * format (text_walk, at the end).
 *
 * The rules are those of the server's COPY line reader for CSV, so that the
 * rows counted here are the rows the server loads: a quote character toggles
 * quoting wherever it appears; when ESCAPE differs from QUOTE, an escape
 * inside quotes protects the next quote; outside quotes \n, \r\n and a lone
 * \r end a record. The server rejects mixed line ends itself; the scanner
 * only has to agree with it on every input it accepts.
 *
 * Every byte of every load passes here, so it works on 64-byte blocks: one
 * pass marks the quote, escape, \r and \n bytes as bits of 64-bit masks
 * (SSE2 where the compiler has it, eight bytes to a word in plain C
 * elsewhere). With no separate escape (COPY's default) a block's rows then
 * follow from the masks alone: the prefix XOR of the quote bits says which
 * bytes are inside quotes, and the line ends outside them are counted with a
 * popcount, however dense the quotes. With an escape, or when the caller
 * wants the first record's end, the marked bytes are walked one by one
 * through the server's rules; the bytes between them are not looked at again.
 */
#include "pgcopyfs.h"

#include <string.h>

#if defined(__SSE2__) && !defined(PCF_SCAN_PORTABLE)
#include <emmintrin.h>
#endif

#define BLOCK 64

/* Bit k of each mask is set where byte k of a block is that character. */
struct marks {
	uint64_t quote, esc, cr, lf;
};

#if defined(__SSE2__) && !defined(PCF_SCAN_PORTABLE)
/* Bit k set where byte k of the 16 at p equals c's byte. */
static inline uint64_t eq16(__m128i v, __m128i c)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, c));
}

/* Marks a whole block of 64 readable bytes at p. An escape of '\0' (none)
 * leaves m->esc empty. */
static inline void mark_block(const unsigned char *p, unsigned char q,
			      unsigned char e, struct marks *m)
{
	const __m128i vq = _mm_set1_epi8((char)q), ve = _mm_set1_epi8((char)e);
	const __m128i vcr = _mm_set1_epi8('\r'), vlf = _mm_set1_epi8('\n');

	m->quote = m->esc = m->cr = m->lf = 0;
	for (int k = 0; k < BLOCK; k += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + k));

		m->quote |= eq16(v, vq) << k;
		if (e)
			m->esc |= eq16(v, ve) << k;
		m->cr |= eq16(v, vcr) << k;
		m->lf |= eq16(v, vlf) << k;
	}
}
#else
#define ONES UINT64_C(0x0101010101010101)
#define LOW7 UINT64_C(0x7f7f7f7f7f7f7f7f)

/* Bit k set where byte k of the word w equals the byte repeated in pat.
 * Exact (no false hits from carries), then the eight flags gathered into
 * the low byte: the multiply puts byte k's flag at bit 56 + k. */
static inline uint64_t eq8(uint64_t w, uint64_t pat)
{
	uint64_t x = w ^ pat;
	uint64_t zero = ~(((x & LOW7) + LOW7) | x | LOW7);

	return ((zero >> 7) * UINT64_C(0x0102040810204080)) >> 56;
}

/* The same marks eight bytes at a time, in plain C. */
static inline void mark_block(const unsigned char *p, unsigned char q,
			      unsigned char e, struct marks *m)
{
	const uint64_t pq = q * ONES, pe = e * ONES;
	const uint64_t pcr = '\r' * ONES, plf = '\n' * ONES;

	m->quote = m->esc = m->cr = m->lf = 0;
	for (int k = 0; k < BLOCK; k += 8) {
		uint64_t w;

		memcpy(&w, p + k, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		m->quote |= eq8(w, pq) << k;
		if (e)
			m->esc |= eq8(w, pe) << k;
		m->cr |= eq8(w, pcr) << k;
		m->lf |= eq8(w, plf) << k;
	}
}
#endif

/*
 * Marks the n (1..64) bytes at p; a short block is copied out first so that
 * nothing past the caller's buffer is read. Bits at n and above are clear.
 */
static inline void mark(const unsigned char *p, size_t n, unsigned char q,
			unsigned char e, struct marks *m)
{
	unsigned char tail[BLOCK];
	uint64_t valid;

	if (n == BLOCK) {
		mark_block(p, q, e, m);
		return;
	}
	memset(tail, 0, sizeof(tail));
	memcpy(tail, p, n);
	mark_block(tail, q, e, m);
	valid = (UINT64_C(1) << n) - 1;
	m->quote &= valid;
	m->esc &= valid;
	m->cr &= valid;
	m->lf &= valid;
}

/* Bit k of the result is the XOR of bits 0..k of x: set for every byte
 * after an odd number of quotes, the opening quote included. */
static inline uint64_t prefix_xor(uint64_t x)
{
	x ^= x << 1;
	x ^= x << 2;
	x ^= x << 4;
	x ^= x << 8;
	x ^= x << 16;
	x ^= x << 32;
	return x;
}

/* The set bits of x. __builtin_popcountll is a libgcc call where the
 * target has no popcount instruction (plain x86-64): too slow per block. */
static inline uint64_t count_bits(uint64_t x)
{
#if defined(__POPCNT__) || defined(__aarch64__)
	return (uint64_t)__builtin_popcountll(x);
#else
	x -= (x >> 1) & UINT64_C(0x5555555555555555);
	x = (x & UINT64_C(0x3333333333333333)) +
	    ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
	return (x * UINT64_C(0x0101010101010101)) >> 56;
#endif
}

void pcf_scan_init(struct pcf_scanner *s, struct pcf_dialect d)
{
	memset(s, 0, sizeof(*s));
	s->d = d;
	/* Same as the server: an escape equal to the quote is no escape. */
	if (s->d.escape == s->d.quote)
		s->d.escape = '\0';
}

/* Records the end-of-call state shared by both scanning paths: len bytes
 * consumed, the last record terminator (if any) ending just before end. */
static void settle(struct pcf_scanner *s, size_t len, size_t end, int ended)
{
	if (ended)
		s->record_start = s->bytes + end;
	s->bytes += len;
	if (len > end)
		s->row_open = 1;
	else if (ended)
		s->row_open = 0;
}

/*
 * Counts the records ending in p[0..len) with masks only. Needs a dialect
 * without a separate escape; leaves the state as the walk below would.
 */
static void count_blocks(struct pcf_scanner *s, const unsigned char *p,
			 size_t len)
{
	const unsigned char q = (unsigned char)s->d.quote;
	uint64_t in_quote = s->in_quote ? ~UINT64_C(0) : 0;
	uint64_t cr_carry = s->pending_cr, rows = 0;
	size_t end = 0; /* just past the last line-end byte outside quotes */
	int ended = 0;

	for (size_t i = 0; i < len; i += BLOCK) {
		size_t n = len - i < BLOCK ? len - i : BLOCK;
		uint64_t inside, cr, lf, skip, any;
		struct marks m;

		mark(p + i, n, q, 0, &m);
		inside = prefix_xor(m.quote) ^ in_quote;
		cr = m.cr & ~inside;
		lf = m.lf & ~inside;
		/* The \n of a \r\n belongs to the record the \r ended. */
		skip = lf & ((cr << 1) | cr_carry);
		rows += count_bits((cr | lf) & ~skip);
		any = cr | lf;
		if (any) {
			end = i + (size_t)(64 - __builtin_clzll(any));
			ended = 1;
		}
		in_quote = (inside >> (n - 1)) & 1 ? ~UINT64_C(0) : 0;
		cr_carry = (cr >> (n - 1)) & 1;
	}
	s->rows += rows;
	s->in_quote = in_quote != 0;
	s->pending_cr = len > 0 ? (unsigned char)cr_carry : s->pending_cr;
	settle(s, len, end, ended);
}

/*
 * Walks the marked bytes of p[0..len) through the server's rules: with
 * one, up to the end of the first record that ends (returning the bytes
 * consumed), else through all of it (returning PCF_SCAN_PARTIAL, with the
 * records that ended counted in s->rows).
 */
static ssize_t walk_blocks(struct pcf_scanner *s, const unsigned char *p,
			   size_t len, int one)
{
	const unsigned char q = (unsigned char)s->d.quote;
	const unsigned char e = (unsigned char)s->d.escape;
	int in_quote = s->in_quote, esc = s->last_was_esc;
	/* An escape's effect reaches only the byte right after it, and a \r's
	 * \n only the next byte: both positions may lie in the next call. */
	size_t esc_at = esc ? 0 : SIZE_MAX;
	size_t lf_at = s->pending_cr ? 0 : SIZE_MAX;
	size_t end = 0;
	ssize_t ret = PCF_SCAN_PARTIAL;
	int ended = 0;

	for (size_t i = 0; i < len; i += BLOCK) {
		size_t n = len - i < BLOCK ? len - i : BLOCK;
		struct marks m;
		uint64_t bits;

		mark(p + i, n, q, e, &m);
		bits = m.quote | m.esc | m.cr | m.lf;
		while (bits) {
			size_t pos = i + (size_t)__builtin_ctzll(bits);
			unsigned char c = p[pos];

			bits &= bits - 1;
			if (pos != esc_at)
				esc = 0; /* a plain byte came between */
			if (e && c == e) {
				if (in_quote)
					esc = !esc;
				esc_at = pos + 1;
				continue;
			}
			if (c == q) {
				if (!esc)
					in_quote = !in_quote;
				esc = 0;
				continue;
			}
			esc = 0;
			if (in_quote)
				continue;
			end = pos + 1;
			if (c == '\n' && pos == lf_at)
				continue;
			s->rows++;
			ended = 1;
			if (c == '\r')
				lf_at = pos + 1;
			if (!one)
				continue;
			/* The first record ends here; its \r's \n, if in hand,
			 * goes with it. What follows is left to the caller. */
			if (c == '\r' && pos + 1 < len) {
				lf_at = SIZE_MAX;
				if (p[pos + 1] == '\n')
					end = pos + 2;
			}
			len = end;
			ret = (ssize_t)end;
			goto done;
		}
	}
done:
	s->in_quote = (unsigned char)in_quote;
	s->last_was_esc = (unsigned char)(esc && esc_at == len);
	if (len > 0)
		s->pending_cr = lf_at == len;
	settle(s, len, end, ended);
	return ret;
}

void pcf_scan_init_text(struct pcf_scanner *s)
{
	memset(s, 0, sizeof(*s));
	s->d = (struct pcf_dialect){ '\t', '\0', '\0' };
	s->text = 1;
}

static int is_eol(unsigned char c)
{
	return c == '\n' || c == '\r';
}

/*
 * The text format's walk: the backslashes and line ends of p[0..len),
 * marked as the CSV walk marks quotes (a backslash in the quote mask).
 * last_was_esc carries a backslash that ended the last call; marker_state
 * a "\." at its end (2), whose line end decides in this call.
 */
static ssize_t text_walk(struct pcf_scanner *s, const unsigned char *p,
			 size_t len, int one)
{
	size_t esc_at = s->last_was_esc ? 0 : SIZE_MAX;
	size_t lf_at = s->pending_cr ? 0 : SIZE_MAX;
	size_t end = 0;
	ssize_t ret = PCF_SCAN_PARTIAL;
	int ended = 0;

	if (len > 0 && s->marker_state) {
		if (s->marker_state == 2 && is_eol(p[0]) && !s->end_marker)
			s->end_marker = s->rows + 1;
		s->marker_state = 0;
	}
	if (len > 0 && esc_at == 0 && p[0] == '.') {
		if (len < 2)
			s->marker_state = 2;
		else if (is_eol(p[1]) && !s->end_marker)
			s->end_marker = s->rows + 1;
	}
	for (size_t i = 0; i < len; i += BLOCK) {
		size_t n = len - i < BLOCK ? len - i : BLOCK;
		struct marks m;
		uint64_t bits;

		mark(p + i, n, '\\', 0, &m);
		bits = m.quote | m.cr | m.lf;
		while (bits) {
			size_t pos = i + (size_t)__builtin_ctzll(bits);
			unsigned char c = p[pos];

			bits &= bits - 1;
			if (pos == esc_at) {
				esc_at = SIZE_MAX; /* escaped: data */
				continue;
			}
			if (c == '\\') {
				esc_at = pos + 1;
				if (pos + 1 < len && p[pos + 1] == '.' &&
				    !s->end_marker) {
					if (pos + 2 == len)
						s->marker_state = 2;
					else if (is_eol(p[pos + 2]))
						s->end_marker = s->rows + 1;
				}
				continue;
			}
			end = pos + 1;
			if (c == '\n' && pos == lf_at)
				continue;
			s->rows++;
			ended = 1;
			if (c == '\r')
				lf_at = pos + 1;
			if (!one)
				continue;
			if (c == '\r' && pos + 1 < len) {
				lf_at = SIZE_MAX;
				if (p[pos + 1] == '\n')
					end = pos + 2;
			}
			len = end;
			ret = (ssize_t)end;
			goto done;
		}
	}
done:
	s->last_was_esc = (unsigned char)(esc_at == len);
	if (len > 0)
		s->pending_cr = lf_at == len;
	settle(s, len, end, ended);
	return ret;
}

ssize_t pcf_scan_record(struct pcf_scanner *s, const char *buf, size_t len)
{
	if (s->text)
		return text_walk(s, (const unsigned char *)buf, len, 1);
	return walk_blocks(s, (const unsigned char *)buf, len, 1);
}

static void scan_span(struct pcf_scanner *s, const unsigned char *p,
		      size_t len)
{
	if (len == 0)
		return;
	if (s->d.escape)
		walk_blocks(s, p, len, 0);
	else
		count_blocks(s, p, len);
}

/*
 * Is a marker beginning at p[0] (a backslash at a record's start)? Looks
 * at what follows, or leaves the part that is in the next call to
 * marker_state.
 */
static void marker_at(struct pcf_scanner *s, const unsigned char *p,
		      size_t left)
{
	if (left < 2) {
		s->marker_state = 1;
	} else if (p[1] != '.') {
		return;
	} else if (left < 3) {
		s->marker_state = 2;
	} else if (p[2] == '\n' || p[2] == '\r') {
		s->end_marker = s->rows + 1;
	}
}

/*
 * Counts the records in buf, and finds the marker: a backslash right after
 * a line end (the rare case) splits the scan there, so that the scanner's
 * state tells whether it starts a record outside quotes.
 */
uint64_t pcf_scan_chunk(struct pcf_scanner *s, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	uint64_t before = s->rows;
	size_t pos = 0, from = 0;

	if (s->text) {
		text_walk(s, p, len, 0);
		return s->rows - before;
	}
	if (s->marker_state && len > 0) {
		int st = s->marker_state;

		s->marker_state = 0;
		if (st == 1 && p[0] == '.') {
			if (len < 2)
				s->marker_state = 2;
			else if ((p[1] == '\n' || p[1] == '\r') && !s->end_marker)
				s->end_marker = s->rows + 1;
		} else if (st == 2 && (p[0] == '\n' || p[0] == '\r') &&
			   !s->end_marker) {
			s->end_marker = s->rows + 1;
		}
	}
	while (from < len && !s->end_marker) {
		const unsigned char *bs = memchr(p + from, '\\', len - from);
		size_t k;

		if (!bs)
			break;
		k = (size_t)(bs - p);
		from = k + 1;
		if (k > 0 ? p[k - 1] != '\n' && p[k - 1] != '\r'
			  : s->bytes > 0 && s->row_open)
			continue; /* not right after a line end */
		scan_span(s, p + pos, k - pos);
		pos = k;
		if (!s->in_quote && !s->row_open)
			marker_at(s, p + k, len - k);
	}
	scan_span(s, p + pos, len - pos);
	return s->rows - before;
}

ssize_t pcf_scan_finish(struct pcf_scanner *s)
{
	if (s->in_quote)
		return PCF_SCAN_UNTERMINATED;
	if (s->row_open) {
		s->rows++;
		s->row_open = 0;
	}
	return 0;
}
