/* SPDX-License-Identifier: MIT */
/*
 * The NF catalog: the NF programs built beside the manager
 * (<manager dir>/../nfs/NAME/bh-NAME, or $BH_NF_DIR/NAME/bh-NAME), which the
 * API can start. Also where the web console is found.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "mgr/mgr.h"

/* dir of the running manager binary + rel, resolved; "" if it does not exist. */
static void cat_beside_me(const char *env, const char *rel, char *out, size_t len)
{
	char exe[PATH_MAX], tmp[PATH_MAX * 2];
	const char *e = getenv(env);
	out[0] = 0;
	if (e && *e) {
		snprintf(tmp, sizeof(tmp), "%s", e);
	} else {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			return;
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (!slash)
			return;
		*slash = 0;
		snprintf(tmp, sizeof(tmp), "%s/%s", exe, rel);
	}
	char real[PATH_MAX];
	if (realpath(tmp, real) && strlen(real) < len)
		snprintf(out, len, "%s", real);
}

void mgr_web_dir(struct mgr *m)
{
	char index[PATH_MAX + 16];
	cat_beside_me("BH_WEB_DIR", "../../web", m->web_dir, sizeof(m->web_dir));
	snprintf(index, sizeof(index), "%s/index.html", m->web_dir);
	if (m->web_dir[0] && access(index, R_OK) != 0)
		m->web_dir[0] = 0;
}

/* The program for catalog entry nf, or -ENOENT. */
static int cat_path(const char *nf, char *out, size_t len)
{
	char dir[PATH_MAX];
	struct stat sb;
	for (const char *p = nf; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return -ENOENT;
	cat_beside_me("BH_NF_DIR", "../nfs", dir, sizeof(dir));
	if (!*nf || !dir[0])
		return -ENOENT;
	snprintf(out, len, "%s/%s/bh-%s", dir, nf, nf);
	return stat(out, &sb) == 0 && S_ISREG(sb.st_mode) && access(out, X_OK) == 0 ? 0 : -ENOENT;
}

json_t *mgr_catalog(struct mgr *m)
{
	char dir[PATH_MAX], path[PATH_MAX * 2];
	json_t *a = json_array();
	(void)m;
	cat_beside_me("BH_NF_DIR", "../nfs", dir, sizeof(dir));
	DIR *d = dir[0] ? opendir(dir) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && cat_path(e->d_name, path, sizeof(path)) == 0)
			json_array_append_new(a, json_pack("{s:s, s:s}", "nf", e->d_name, "path", path));
	if (d)
		closedir(d);
	return a;
}

long mgr_nf_start(struct mgr *m, const char *nf, const char *service, const char *name,
		  const char *const *args, char *err, size_t errlen)
{
	char path[PATH_MAX * 2];
	const char *argv[80];
	unsigned n = 0;

	if (cat_path(nf, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "no NF '%s' in the catalog (GET /api/v1/catalog)", nf);
		return -ENOENT;
	}
	if ((service && (!*service || strlen(service) >= BH_NAME_LEN)) ||
	    (name && (!*name || strlen(name) >= BH_NAME_LEN))) {
		snprintf(err, errlen, "service and name are 1 to %d characters", BH_NAME_LEN - 1);
		return -EINVAL;
	}
	argv[n++] = path;
	argv[n++] = "-P";
	argv[n++] = m->cfg.prefix;
	if (service) {
		argv[n++] = "-s";
		argv[n++] = service;
	}
	if (name) {
		argv[n++] = "-n";
		argv[n++] = name;
	}
	argv[n++] = "--";
	for (unsigned i = 0; args && args[i] && n < 79; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		/* Nothing of the manager's (ports, hugepage files, sockets) goes along. */
		close_range(3, ~0u, 0);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	if (pid < 0) {
		snprintf(err, errlen, "cannot start %s: %s", path, strerror(errno));
		return -errno;
	}
	bh_log(BH_LOG_INFO, "started NF %s (pid %d)", nf, (int)pid);
	mgr_event("launched", NULL, service ? service : nf, "%s, pid %d", nf, (int)pid);
	return pid;
}
