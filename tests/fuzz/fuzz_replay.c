/* SPDX-License-Identifier: MIT */
/*
 * Replays inputs through a libFuzzer target without libFuzzer, so that every
 * compiler builds it and the corpus runs as a regression test (h2o's habit).
 *
 *   test_fuzz_NAME [--no-fork] [FILE|DIR ...]
 *
 * With no argument it replays every file of the corpus directory the build
 * names (FUZZ_CORPUS). Each input runs in a child process, so one that
 * crashes or trips a sanitizer is reported by name and the others still run;
 * --no-fork runs them in this process (for a debugger). Ends with the line
 * "NAME: N passed, N failed"; exit status 1 if any failed or none ran.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the target"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int passed, failed;
static int no_fork;

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf)
			break;
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		uint8_t *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

static void run_file(const char *path)
{
	size_t len;
	uint8_t *data = slurp(path, &len);
	if (!data) {
		printf("FAIL %s: cannot read: %s\n", path, strerror(errno));
		failed++;
		return;
	}
	if (no_fork) {
		LLVMFuzzerTestOneInput(data, len); /* aborts on a finding */
		free(data);
		passed++;
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		printf("FAIL %s: fork: %s\n", path, strerror(errno));
		failed++;
		free(data);
		return;
	}
	if (pid == 0) {
		LLVMFuzzerTestOneInput(data, len);
		free(data);
		exit(0); /* exit, not _exit: LeakSanitizer checks at exit */
	}
	free(data);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		passed++;
		return;
	}
	failed++;
	if (WIFSIGNALED(st))
		printf("FAIL %s: killed by signal %d\n", path, WTERMSIG(st));
	else
		printf("FAIL %s: exit status %d\n", path, WEXITSTATUS(st));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		printf("FAIL %s: cannot open: %s\n", dir, strerror(errno));
		failed++;
		return;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				abort();
			names = nn;
		}
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0)
			abort();
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		if (stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode))
			run_file(names[i]);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	int first = 1;
	if (argc > 1 && !strcmp(argv[1], "--no-fork")) {
		no_fork = 1;
		first = 2;
	}
	if (first >= argc) {
#ifdef FUZZ_CORPUS
		run_dir(FUZZ_CORPUS);
#else
		fprintf(stderr, "usage: %s [--no-fork] FILE|DIR...\n", argv[0]);
		return 2;
#endif
	}
	for (int i = first; i < argc; i++) {
		struct stat sb;
		if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			run_dir(argv[i]);
		else
			run_file(argv[i]);
	}
	if (passed + failed == 0) {
		printf("FAIL no input to replay\n");
		failed++;
	}
	printf("%s: %d passed, %d failed\n", FUZZ_NAME, passed, failed);
	return failed ? 1 : 0;
}
