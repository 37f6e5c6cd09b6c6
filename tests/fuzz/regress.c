/*
 * regress.c - replays fuzz inputs through fuzz_scan.c's
 * LLVMFuzzerTestOneInput without libFuzzer, so the seed corpus and every
 * crash the fuzzer ever kept run as an ordinary test with any compiler.
 *
 * usage: fuzz_regress PATH...   (files, or directories of files)
 * A missing PATH is skipped (tests/fuzz/crashes/ only exists after a crash);
 * finding no input at all is an error, as it means a wrong path.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file through the target. Returns 0, or -1 if it is unreadable. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "fuzz_regress: %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			uint8_t *grown;

			cap = cap ? 2 * cap : 4096;
			grown = realloc(buf, cap);
			if (!grown) {
				fclose(f);
				free(buf);
				fprintf(stderr, "fuzz_regress: out of memory\n");
				return -1;
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "fuzz_regress: %s: read error\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* an exact-size copy, so that ASan sees reads past the input's end */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (!exact) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

/* Runs every regular file directly in dir (no recursion, no dot files).
 * Adds the files run to *count; returns the number of failures. */
static int run_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int failures = 0;

	if (!d) {
		fprintf(stderr, "fuzz_regress: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		fprintf(stderr, "fuzz_regress: %s\n", path);
		if (run_file(path) != 0)
			failures++;
		else
			(*count)++;
	}
	closedir(d);
	return failures;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int failures = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "fuzz_regress: %s: not there, skipped\n",
				argv[i]);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			failures += run_dir(argv[i], &count);
		} else if (run_file(argv[i]) != 0) {
			failures++;
		} else {
			count++;
		}
	}
	printf("fuzz_regress: %zu inputs ran, %d unreadable\n", count,
	       failures);
	if (count == 0) {
		fprintf(stderr, "fuzz_regress: no inputs found\n");
		return 1;
	}
	return failures ? 1 : 0;
}
