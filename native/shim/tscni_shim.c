// tscni shim: what a runtime execs as bridge / host-local / ebpf-bandwidth / loopback. Transport only: every
// decision about the CNI call is made in TypeScript, by the resident `tscni daemon` or, when no
// daemon answers, by the self-contained executable `tscni` next to this file.
//
//   1. Read stdin, at most TSCNI_STDIN_LIMIT + 1 bytes (more than the limit: step 3's fallback,
//      which answers "too large" from exactly the bytes read); connect to the daemon of this
//      network namespace (/run/tscni/tscni-<netns inode>.sock, only while /run/tscni is root's
//      alone; or $TSCNI_SOCKET); accept only a root peer.
//   2. Send the name we were called by, the environment, stdin, and CNI_NETNS as an open fd
//      (SCM_RIGHTS), so a daemon in another mount namespace still gets the right namespace.
//   3. The daemon acks before it runs anything. Accepted: relay its stdout, stderr and exit code
//      exactly; if it dies before answering, print a CNI error with code 11 (try again later) —
//      the request may have run, so it is never replayed. Not accepted (no daemon, another
//      build, another namespace): exec `tscni` with NODE_* removed from the environment, stdin
//      replayed from a memfd, and (no daemon at all) start one for the next calls.
//
// Wire format (little endian) is described in cli/daemon/protocol.ts, which owns it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TSCNI_DIGEST
#define TSCNI_DIGEST "00000000000000000000000000000000"
#endif
#define DIGEST_LEN 32
// The one stdin limit (core/limits.ts STDIN_LIMIT), passed in by scripts/build.mjs.
#ifndef TSCNI_STDIN_LIMIT
#error "build with -DTSCNI_STDIN_LIMIT=<bytes> (scripts/build.mjs takes it from core/limits.ts)"
#endif
#define STDIN_LIMIT ((size_t)(TSCNI_STDIN_LIMIT))
#define RUN_DIR "/run/tscni"
#define NO_DAEMON_FILE "/etc/tscni/no-daemon"

enum { ACK_ACCEPTED = 0 };
enum { STDIN_WHOLE = 0, STDIN_OVER = 1, STDIN_ERROR = -1 };

// How the daemon's delegation tells a shim of its own build on CNI_PATH (cli/self.ts).
__attribute__((used)) static const char build_marker[] = "tscni-shim-digest:" TSCNI_DIGEST;

extern char **environ;

struct buf {
  char *p;
  size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      perror("tscni shim: out of memory");
      exit(1);
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void put_u32(struct buf *b, uint32_t v) {
  unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
  put(b, le, 4);
}

static void put_str(struct buf *b, const char *s) {
  put_u32(b, (uint32_t)strlen(s));
  put(b, s, strlen(s));
}

static uint32_t get_u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/**
 * Stdin, at most STDIN_LIMIT + 1 bytes: STDIN_WHOLE (all of it, within the limit), STDIN_OVER
 * (more than the limit; the fallback replays what was read and the dispatcher refuses it, as
 * the daemon's would), or STDIN_ERROR (the fallback reads stdin itself and reports the error).
 */
static int read_stdin(struct buf *b) {
  char chunk[65536];
  while (b->len <= STDIN_LIMIT) {
    size_t want = STDIN_LIMIT + 1 - b->len;
    ssize_t n = read(0, chunk, want < sizeof chunk ? want : sizeof chunk);
    if (n == 0) return STDIN_WHOLE;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EBADF ? STDIN_WHOLE : STDIN_ERROR; // no stdin at all: an empty one
    }
    put(b, chunk, (size_t)n);
  }
  return STDIN_OVER;
}

static int read_full(int fd, void *p, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t r = read(fd, (char *)p + off, n - off);
    if (r == 0) return -1;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += (size_t)r;
  }
  return 0;
}

static void write_full(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return; // the reader went away: nothing left to tell it
    }
    p += w;
    n -= (size_t)w;
  }
}

static void socket_path(char *out, size_t n) {
  const char *env = getenv("TSCNI_SOCKET");
  struct stat st;
  if (env && *env) snprintf(out, n, "%s", env);
  else if (stat("/proc/self/ns/net", &st) == 0) snprintf(out, n, RUN_DIR "/tscni-%llu.sock", (unsigned long long)st.st_ino);
  else out[0] = 0;
}

/**
 * A socket in RUN_DIR (and its lock) is used only while RUN_DIR is a directory (not a symbolic
 * link) of root's that nobody else may enter: otherwise anyone could hold the lock, or stand in
 * for the daemon (kernel/rundir.ts keeps the same rule and tightens an older build's 0755). One
 * named by TSCNI_SOCKET elsewhere relies on the root peer check alone. 0 with errno ENOENT when
 * RUN_DIR does not exist yet.
 */
static int socket_dir_ok(const char *sock_path) {
  struct stat st;
  if (strncmp(sock_path, RUN_DIR "/", strlen(RUN_DIR "/")) != 0) return 1;
  if (lstat(RUN_DIR, &st) < 0) return 0;
  if (S_ISDIR(st.st_mode) && st.st_uid == 0 && (st.st_mode & 077) == 0) return 1;
  errno = EACCES;
  return 0;
}

/** Connected to a root-owned daemon, or -1 with errno telling whether one exists at all. */
static int connect_daemon(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (!path[0] || strlen(path) >= sizeof sa.sun_path) return errno = ENOENT, -1;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return errno = e, -1;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0) {
    close(fd);
    return errno = EACCES, -1; // someone else's socket: never hand it a request
  }
  return fd;
}

static int send_request(int sock, const struct buf *req, int nsfd) {
  struct iovec iov = {.iov_base = req->p, .iov_len = req->len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nsfd >= 0) {
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &nsfd, sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (size_t off = (size_t)n; off < req->len;) {
    ssize_t w = send(sock, req->p + off, req->len - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += (size_t)w;
  }
  return 0;
}

/** The config's cniVersion, for our own error message (a crude scan: the daemon parses properly). */
static void cni_version(const struct buf *in, char *out, size_t n) {
  snprintf(out, n, "1.1.0");
  const char *key = "\"cniVersion\"";
  char *p = in->len ? memmem(in->p, in->len, key, strlen(key)) : NULL;
  if (!p) return;
  char *end = in->p + in->len;
  p += strlen(key);
  while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  if (p >= end || *p != '"') return;
  size_t i = 0;
  for (p++; p < end && i + 1 < n && ((*p >= '0' && *p <= '9') || *p == '.'); p++) out[i++] = *p;
  if (p < end && *p == '"' && i > 0) out[i] = 0;
  else snprintf(out, n, "1.1.0");
}

static int die_try_again(const struct buf *in, const char *why) {
  char version[16], msg[512];
  cni_version(in, version, sizeof version);
  int n = snprintf(msg, sizeof msg,
                   "{\n    \"cniVersion\": \"%s\",\n    \"code\": 11,\n    \"msg\": \"tscni daemon failed during the request\",\n    \"details\": \"%s; the call may have run in part: retry, or DEL\"\n}",
                   version, why);
  write_full(1, msg, (size_t)n);
  return 1;
}

/** The directory this file was exec'd from (for a hard link, the name it was called by). */
static int self_dir(char *out, size_t n) {
  ssize_t len = readlink("/proc/self/exe", out, n - 1);
  if (len <= 0) return -1;
  out[len] = 0;
  char *slash = strrchr(out, '/');
  if (!slash) return -1;
  *slash = 0;
  return 0;
}

/** The host's own mount namespace (see kernel/bpf/pin.ts inInitialMountNamespace: the same test). */
static int in_initial_mount_ns(void) {
  char self[64], init[64];
  ssize_t a = readlink("/proc/self/ns/mnt", self, sizeof self - 1), b = readlink("/proc/1/ns/mnt", init, sizeof init - 1);
  if (a > 0 && b > 0) return a == b && memcmp(self, init, (size_t)a) == 0;
  struct stat st;
  return stat("/proc/self/ns/mnt", &st) == 0 && st.st_ino == 0xeffffff8;
}

/**
 * Start `tscni daemon` for the next calls, detached, unless one holds the lock already. Only from
 * the host's mount namespace: a daemon started elsewhere would see another /sys/fs/bpf and dataDir
 * than the host's callers (it declines to serve, so starting one would only cost a Node start).
 */
static void spawn_daemon(const char *exe, const char *sock_path) {
  const char *off = getenv("TSCNI_NO_DAEMON");
  if ((off && *off) || !sock_path[0] || !in_initial_mount_ns()) return;
  mkdir(RUN_DIR, 0700);
  if (!socket_dir_ok(sock_path)) return; // no lock and no daemon where others can reach them
  char lock_path[PATH_MAX];
  snprintf(lock_path, sizeof lock_path, "%s.lock", sock_path);
  int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock < 0) return;
  // Held from here by the daemon itself (it inherits this open file): no second one is started.
  if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
    close(lock);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    if (fork() != 0) _exit(0); // the daemon is nobody's child: the runtime never waits for it
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    if (lock != 3) {
      dup2(lock, 3); // dup2 clears FD_CLOEXEC on the copy
      close(lock);
    } else {
      fcntl(3, F_SETFD, 0);
    }
    // Only what a daemon needs from this environment: its PATH (iptables, nft) and nothing of Node's.
    const char *path = getenv("PATH");
    char path_env[4096];
    snprintf(path_env, sizeof path_env, "PATH=%s", path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    char *envp[] = {path_env, NULL};
    // TSCNI_DAEMON_IDLE_EXIT (seconds) in the runtime's environment overrides the daemon's default.
    const char *idle = getenv("TSCNI_DAEMON_IDLE_EXIT");
    int idle_ok = idle && *idle && strspn(idle, "0123456789") == strlen(idle) && strlen(idle) < 10;
    char *argv[] = {"tscni", "daemon", "--spawned", "--lock-fd", "3", "--socket", (char *)sock_path,
                    idle_ok ? "--idle-exit" : NULL, (char *)idle, NULL};
    execve(exe, argv, envp);
    _exit(127);
  }
  close(lock);
  if (pid > 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

/** Exec the self-contained executable as plugin `name`, without NODE_* variables, `in` replayed as stdin if `replay`. */
static int fallback(const char *name, const struct buf *in, int replay, int spawn, const char *sock_path) {
  char dir[PATH_MAX], exe[PATH_MAX + 8];
  if (self_dir(dir, sizeof dir) < 0) {
    perror("tscni shim: cannot find its own directory");
    return 1;
  }
  snprintf(exe, sizeof exe, "%s/tscni", dir);
  if (spawn) spawn_daemon(exe, sock_path);
  if (replay) {
    // A memfd (a regular file) holds any size and reads like the original stdin.
    int mfd = memfd_create("tscni-stdin", 0);
    if (mfd < 0) {
      perror("tscni shim: memfd_create");
      return 1;
    }
    write_full(mfd, in->p, in->len);
    lseek(mfd, 0, SEEK_SET);
    dup2(mfd, 0);
    close(mfd);
  }
  // Whatever Node reads from its environment (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, ...) is not ours
  // to take from the runtime: it changes how the executable runs, or costs ~90 ms a start.
  size_t n = 0;
  for (char **e = environ; *e; e++) n++;
  char **envp = calloc(n + 1, sizeof *envp);
  size_t k = 0;
  for (char **e = environ; envp && *e; e++)
    if (strncmp(*e, "NODE_", 5) != 0) envp[k++] = *e;
  char *argv[] = {(char *)name, NULL};
  execve(exe, argv, envp ? envp : environ);
  char msg[PATH_MAX + 128];
  int len = snprintf(msg, sizeof msg, "{\n    \"cniVersion\": \"1.1.0\",\n    \"code\": 999,\n    \"msg\": \"tscni shim: cannot exec %s: %s\"\n}", exe, strerror(errno));
  write_full(1, msg, (size_t)len);
  return 1;
}

int main(int argc, char **argv) {
  (void)argc;
  const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  struct buf in = {0};
  int got = read_stdin(&in);
  char sock_path[PATH_MAX];
  socket_path(sock_path, sizeof sock_path);
  const char *off = getenv("TSCNI_NO_DAEMON");
  // The operator's switch for the whole node: no daemon is used or started while this file exists.
  int node_off = access(NO_DAEMON_FILE, F_OK) == 0;
  if (got != STDIN_WHOLE || node_off) return fallback(name, &in, got != STDIN_ERROR, 0, sock_path);
  if (off && *off && !getenv("TSCNI_SOCKET")) return fallback(name, &in, 1, 0, sock_path);
  // Missing, it is made (0700) when a daemon is started; anything else not private is refused.
  if (!socket_dir_ok(sock_path)) return fallback(name, &in, 1, errno == ENOENT, sock_path);

  int sock = connect_daemon(sock_path);
  if (sock < 0) return fallback(name, &in, 1, errno == ENOENT || errno == ECONNREFUSED, sock_path);

  struct buf req = {0};
  put(&req, "TSCNIQ01", 8);
  put(&req, TSCNI_DIGEST, DIGEST_LEN);
  put_str(&req, name);
  uint32_t envc = 0;
  for (char **e = environ; *e; e++) envc++;
  put_u32(&req, envc);
  for (char **e = environ; *e; e++) put_str(&req, *e);
  put_u32(&req, (uint32_t)in.len);
  put(&req, in.p, in.len);

  const char *netns = getenv("CNI_NETNS");
  int nsfd = netns && *netns ? open(netns, O_RDONLY | O_CLOEXEC) : -1; // gone: the daemon sees the path only
  unsigned char ack[12];
  if (send_request(sock, &req, nsfd) < 0 || read_full(sock, ack, sizeof ack) < 0 || memcmp(ack, "TSCNIA01", 8) != 0) {
    // Nothing was accepted: the daemon runs a request only after acking it.
    close(sock);
    return fallback(name, &in, 1, 0, sock_path);
  }
  if (nsfd >= 0) close(nsfd);
  if (get_u32(ack + 8) != ACK_ACCEPTED) {
    close(sock);
    return fallback(name, &in, 1, 0, sock_path);
  }
  unsigned char head[20];
  if (read_full(sock, head, sizeof head) < 0 || memcmp(head, "TSCNIR01", 8) != 0) return die_try_again(&in, "no reply");
  int32_t code = (int32_t)get_u32(head + 8);
  uint32_t out_len = get_u32(head + 12), err_len = get_u32(head + 16);
  char *out = malloc((size_t)out_len + err_len + 1);
  if (!out || read_full(sock, out, (size_t)out_len + err_len) < 0) return die_try_again(&in, "reply cut short");
  write_full(1, out, out_len);
  write_full(2, out + out_len, err_len);
  return code;
}
