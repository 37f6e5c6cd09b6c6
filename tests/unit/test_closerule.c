/*
 * test_closerule.c - the commit rule (pcf_closerule.h) against the /proc
 * states recorded at real closes (fields 9 and 52 of /proc/<tid>/stat,
 * SigPnd/ShdPnd of status, and whether other descriptors were open), one
 * row a case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pcf_closerule.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* closer: known, exiting, exit_code, killed, wrote */
#define ALIVE { 1, 0, 0, 0, 1 }
#define ALIVE_NOT_WRITER { 1, 0, 0, 0, 0 }
#define EXIT0 { 1, 1, 0, 0, 1 }
#define EXIT0_NOT_WRITER { 1, 1, 0, 0, 0 }
#define EXIT1 { 1, 1, 256, 0, 1 }
#define EXIT1_NOT_WRITER { 1, 1, 256, 0, 0 }
#define KILLED9 { 1, 1, 9, 0, 1 }
#define KILLED_IN_CLOSE { 1, 0, 9, 1, 1 }
#define UNKNOWN { 0, 0, 0, 0, 0 }

static const struct close_case {
	const char *what;
	struct pcf_close_facts f;
	enum pcf_close_verdict want;
	const char *why_has;
} close_cases[] = {
	{ "cat > t: the shell's close before exec, no data yet",
	  { 0, 0, 0, 2000, 0, ALIVE_NOT_WRITER }, PCF_CLOSE_NOTHING, "" },
	{ "dd: open, dup2, close before any data",
	  { 0, 0, 0, 2000, 1, ALIVE }, PCF_CLOSE_NOTHING, "" },
	{ "cp: explicit close, then exit (unknown yet)",
	  { 100, 0, 0, 2000, 0, ALIVE }, PCF_CLOSE_WATCH, "exits 0" },
	{ "cat's close_stdout at exit, before exit_group(1)",
	  { 100, 0, 0, 2000, 0, ALIVE }, PCF_CLOSE_WATCH, "" },
	{ "C program returning from main: exit-time close, status 0",
	  { 100, 0, 0, 2000, 0, EXIT0 }, PCF_CLOSE_COMMIT, "exited 0" },
	{ "exit(1) without closing: exit-time close, status 256",
	  { 100, 0, 0, 2000, 0, EXIT1 }, PCF_CLOSE_ROLLBACK, "nothing" },
	{ "killed by SIGKILL while holding the file",
	  { 100, 0, 0, 2000, 0, KILLED9 }, PCF_CLOSE_ROLLBACK, "nothing" },
	{ "killed by SIGKILL while holding it, a child still holds it too",
	  { 100, 0, 0, 2000, 1, KILLED9 }, PCF_CLOSE_ROLLBACK, "nothing" },
	{ "killed while blocked in a slow close()",
	  { 100, 0, 0, 2000, 0, KILLED_IN_CLOSE }, PCF_CLOSE_ROLLBACK,
	  "nothing" },
	{ "{ echo a; /bin/echo b; } > t: /bin/echo exits 0, shell holds it",
	  { 100, 0, 0, 2000, 1, EXIT0 }, PCF_CLOSE_NOT_LAST, "" },
	{ "a forked child exits 1 holding a copy it never wrote to",
	  { 100, 0, 0, 2000, 1, EXIT1_NOT_WRITER }, PCF_CLOSE_NOT_LAST, "" },
	{ "the opening shell dies last without having written",
	  { 100, 0, 0, 2000, 0, EXIT1_NOT_WRITER }, PCF_CLOSE_ROLLBACK,
	  "while closing" },
	{ "the opening shell exits 0 last (xargs, a subshell)",
	  { 100, 0, 0, 2000, 0, EXIT0_NOT_WRITER }, PCF_CLOSE_COMMIT, "" },
	{ "exec 3>&-: the shell closes and runs on",
	  { 100, 0, 0, 2000, 0, ALIVE_NOT_WRITER }, PCF_CLOSE_WATCH, "" },
	{ "builtin echo >&3 while fd 3 stays open",
	  { 100, 0, 0, 2000, 1, ALIVE }, PCF_CLOSE_NOT_LAST, "" },
	{ "fsync() then close: the writer sealed everything",
	  { 100, 100, 0, 2000, 0, ALIVE }, PCF_CLOSE_COMMIT, "fsync" },
	{ "bytes after the last fsync(), default commit rule: watched",
	  { 100, 60, 0, 2000, 0, ALIVE }, PCF_CLOSE_WATCH, "" },
	{ "-o commit=fsync, bytes after the last fsync()",
	  { 100, 60, 1, 2000, 0, ALIVE }, PCF_CLOSE_UNSEALED, "fsync" },
	{ "-o commit=fsync, all sealed",
	  { 100, 100, 1, 2000, 0, ALIVE }, PCF_CLOSE_COMMIT, "" },
	{ "-o commit=fsync, nothing sealed, exit-time close",
	  { 100, 0, 1, 2000, 0, EXIT0 }, PCF_CLOSE_UNSEALED, "fsync" },
	{ "-o close_wait=0: commit at the close, as before",
	  { 100, 0, 0, 0, 0, ALIVE }, PCF_CLOSE_COMMIT, "close_wait" },
	{ "a closer in another pid namespace (pid 0)",
	  { 100, 0, 0, 2000, 0, UNKNOWN }, PCF_CLOSE_COMMIT, "namespace" },
	{ "a closer in another pid namespace, others hold it",
	  { 100, 0, 0, 2000, 1, UNKNOWN }, PCF_CLOSE_NOT_LAST, "" },
};

static void test_close_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(close_cases); i++) {
		const struct close_case *c = &close_cases[i];
		const char *why = NULL;
		enum pcf_close_verdict v = pcf_close_decide(&c->f, &why);

		if (v != c->want)
			fail_msg("%s: verdict %d, expected %d", c->what, v,
				 c->want);
		assert_non_null(why);
		if (!strstr(why, c->why_has))
			fail_msg("%s: reason \"%s\" lacks \"%s\"", c->what, why,
				 c->why_has);
	}
}

static const struct exit_case {
	const char *what;
	enum pcf_exit_kind kind;
	int status;
	enum pcf_exit_verdict want;
} exit_cases[] = {
	{ "cp exits 0 after its close", PCF_EXIT_STATUS, 0, PCF_EXIT_COMMIT },
	{ "cat good missing > t: exit 1", PCF_EXIT_STATUS, 256,
	  PCF_EXIT_ROLLBACK },
	{ "curl: exit 18", PCF_EXIT_STATUS, 18 << 8, PCF_EXIT_ROLLBACK },
	{ "Python interrupted after its with block: SIGINT", PCF_EXIT_STATUS,
	  2, PCF_EXIT_ROLLBACK },
	{ "killed by SIGKILL after the close", PCF_EXIT_STATUS, 9,
	  PCF_EXIT_ROLLBACK },
	{ "a dumped core (SIGSEGV | 0x80)", PCF_EXIT_STATUS, 11 | 0x80,
	  PCF_EXIT_ROLLBACK },
	{ "the shell runs its next command (fork)", PCF_EXIT_FORKED, 0,
	  PCF_EXIT_COMMIT },
	{ "still running after close_wait", PCF_EXIT_RUNNING, 0,
	  PCF_EXIT_COMMIT },
	{ "lost from sight", PCF_EXIT_LOST, 0, PCF_EXIT_COMMIT },
};

static void test_exit_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(exit_cases); i++) {
		const struct exit_case *c = &exit_cases[i];
		const char *why = NULL;
		enum pcf_exit_verdict v =
			pcf_exit_decide(c->kind, c->status, &why);

		if (v != c->want)
			fail_msg("%s: verdict %d, expected %d", c->what, v,
				 c->want);
		assert_non_null(why);
	}
}

static void test_status_describe(void **state)
{
	char buf[128];

	(void)state;
	pcf_status_describe(256, 0, buf, sizeof(buf));
	assert_string_equal(buf, "exited with status 1");
	pcf_status_describe(18 << 8, 0, buf, sizeof(buf));
	assert_string_equal(buf, "exited with status 18");
	pcf_status_describe(0, 1, buf, sizeof(buf));
	assert_true(strncmp(buf, "was killed by signal 9", 22) == 0);
	pcf_status_describe(2, 0, buf, sizeof(buf));
	assert_true(strncmp(buf, "was killed by signal 2", 22) == 0);
	pcf_status_describe(0, 0, buf, sizeof(buf));
	assert_string_equal(buf, "exited 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_close_cases),
		cmocka_unit_test(test_exit_cases),
		cmocka_unit_test(test_status_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
