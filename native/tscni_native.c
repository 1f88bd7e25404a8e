// tscni_native: the few syscalls Node.js does not expose.
//
// Everything here is a thin, synchronous wrapper around one syscall. Policy (which namespace,
// which message, which lock) lives in TypeScript. Each function throws a JS Error carrying
// `errno` (positive number) and `syscall` on failure; kernel/native.ts names the errno (`code`,
// from kernel/errno.ts), so callers branch on EEXIST/ENOENT/ENODEV without parsing strings.
//
// Threading: setns() affects only the calling thread. JS calls these from the main thread only,
// and never awaits while switched (see kernel/netns.ts).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/netlink.h>
#include <node_api.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

static napi_value throw_errno(napi_env env, const char *syscall_name, int e) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", syscall_name, strerror(e));
  napi_value jmsg, err, jerrno, jsys;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error(env, NULL, jmsg, &err);
  napi_create_int32(env, e, &jerrno);
  napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &jsys);
  napi_set_named_property(env, err, "errno", jerrno);
  napi_set_named_property(env, err, "syscall", jsys);
  napi_throw(env, err);
  return NULL;
}

static napi_value type_error(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

#define ARGS(n)                                                   \
  size_t argc = n;                                                \
  napi_value argv[n];                                             \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) \
    return type_error(env, "wrong number of arguments");

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static napi_value make_i32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value make_undef(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

// setns(fd, nstype): move the calling thread into the namespace behind fd.
static napi_value js_setns(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, type;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &type)) return type_error(env, "setns(fd, nstype)");
  if (setns(fd, type) != 0) return throw_errno(env, "setns", errno);
  return make_undef(env);
}

// netlinkOpen(protocol, rcvTimeoutMs): a bound AF_NETLINK socket in the calling thread's netns.
// The socket stays in that namespace after the thread switches back.
static napi_value js_netlink_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t proto, timeout_ms;
  if (!get_i32(env, argv[0], &proto) || !get_i32(env, argv[1], &timeout_ms)) return type_error(env, "netlinkOpen(proto, timeoutMs)");
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  // Extended ACKs give the kernel's human-readable reason for EINVAL and friends.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
  int rcvbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (timeout_ms > 0) {
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  return make_i32(env, fd);
}

// netlinkSend(fd, buffer): send one datagram to the kernel.
static napi_value js_netlink_send(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  void *data;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok)
    return type_error(env, "netlinkSend(fd, buffer)");
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  ssize_t n;
  do {
    n = sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof sa);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "sendto", errno);
  return make_i32(env, (int32_t)n);
}

// netlinkRecv(fd, buffer): receive one datagram; returns its length (MSG_TRUNC: real length).
static napi_value js_netlink_recv(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  void *data;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok)
    return type_error(env, "netlinkRecv(fd, buffer)");
  ssize_t n;
  do {
    n = recv(fd, data, len, MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "recv", errno);
  return make_i32(env, (int32_t)n);
}

// flock(fd, op): op is LOCK_SH=1 / LOCK_EX=2 / LOCK_UN=8, optionally | LOCK_NB=4.
static napi_value js_flock(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, op;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &op)) return type_error(env, "flock(fd, op)");
  int r;
  do {
    r = flock(fd, op);
  } while (r != 0 && errno == EINTR);
  if (r != 0) return throw_errno(env, "flock", errno);
  return make_undef(env);
}

// The signal that ends a timed flock's wait: real-time, so it is never one Node or libuv uses, and
// sent only by our own per-thread timers (SIGEV_THREAD_ID), to the thread that is waiting.
#define WAKE_SIGNAL (SIGRTMIN + 7)
static void on_wake(int sig) { (void)sig; }

// flockTimed(fd, op, timeoutMs): flock(fd, op) that waits at most timeoutMs; true = locked, false
// = still held by someone else. A blocking flock is woken the moment the holder lets go (as the Go
// reference's is), unlike a LOCK_NB poll loop; a timer aimed at this thread interrupts it (EINTR:
// the handler is installed without SA_RESTART) so that the caller can give up, or check whether its
// request was cancelled and wait again. Any thread may call it: each arms its own timer.
static napi_value js_flock_timed(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, op, timeout_ms;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &op) || !get_i32(env, argv[2], &timeout_ms))
    return type_error(env, "flockTimed(fd, op, timeoutMs)");
  napi_value yes, no;
  napi_get_boolean(env, true, &yes);
  napi_get_boolean(env, false, &no);
  op &= ~LOCK_NB;
  if (flock(fd, op | LOCK_NB) == 0) return yes;
  if (errno != EWOULDBLOCK) return throw_errno(env, "flock", errno);
  if (timeout_ms <= 0) return no;

  static int installed;
  if (!__atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
    struct sigaction sa = {.sa_handler = on_wake}; // no SA_RESTART: flock returns EINTR
    sigemptyset(&sa.sa_mask);
    if (sigaction(WAKE_SIGNAL, &sa, NULL) != 0) return throw_errno(env, "sigaction", errno);
    __atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
  }
  sigset_t wake, old;
  sigemptyset(&wake);
  sigaddset(&wake, WAKE_SIGNAL);
  pthread_sigmask(SIG_UNBLOCK, &wake, &old);
  struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = WAKE_SIGNAL};
  sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return throw_errno(env, "timer_create", e);
  }
  struct itimerspec its = {.it_value = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L}};
  timer_settime(timer, 0, &its, NULL);
  int r, e = 0;
  for (;;) {
    r = flock(fd, op);
    if (r == 0) break;
    e = errno;
    if (e != EINTR) break;
    struct itimerspec left;
    if (timer_gettime(timer, &left) != 0 || (left.it_value.tv_sec == 0 && left.it_value.tv_nsec == 0)) break; // expired
  }
  timer_delete(timer);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r == 0) return yes;
  if (e == EINTR) return no;
  return throw_errno(env, "flock", e);
}

// bpf(cmd, attr): the raw bpf() syscall; attr is a Buffer holding union bpf_attr.
// Returns the syscall's non-negative result (often a new fd).
static napi_value js_bpf(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t cmd;
  void *attr;
  size_t len;
  if (!get_i32(env, argv[0], &cmd) || napi_get_buffer_info(env, argv[1], &attr, &len) != napi_ok)
    return type_error(env, "bpf(cmd, attrBuffer)");
  long r;
  do {
    r = syscall(__NR_bpf, cmd, attr, (unsigned int)len);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, "bpf", errno);
  return make_i32(env, (int32_t)r);
}

// addressOf(buffer): the buffer's address as a BigInt, for pointer fields inside bpf_attr.
// The caller must keep the Buffer referenced until the syscall returns.
static napi_value js_address_of(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) return type_error(env, "addressOf(buffer)");
  napi_value r;
  napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)data, &r);
  return r;
}

static int get_str(napi_env env, napi_value v, char *buf, size_t size) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) {
    buf[0] = 0;
    return 2;
  }
  size_t n;
  return napi_get_value_string_utf8(env, v, buf, size, &n) == napi_ok && n < size - 1;
}

// mount(source, target, fstype, flags, data): used to mount bpffs when it is missing.
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(5);
  char src[256], target[4096], fstype[64], data[256];
  int32_t flags;
  if (!get_str(env, argv[0], src, sizeof src) || !get_str(env, argv[1], target, sizeof target) ||
      !get_str(env, argv[2], fstype, sizeof fstype) || !get_i32(env, argv[3], &flags) ||
      !get_str(env, argv[4], data, sizeof data))
    return type_error(env, "mount(source, target, fstype, flags, data)");
  if (mount(src, target, fstype, (unsigned long)(uint32_t)flags, data[0] ? data : NULL) != 0)
    return throw_errno(env, "mount", errno);
  return make_undef(env);
}

// gettid(): the calling thread's id, to find /proc/self/task/<tid>/ns/net.
static napi_value js_gettid(napi_env env, napi_callback_info info) {
  (void)info;
  return make_i32(env, (int32_t)syscall(SYS_gettid));
}

// unshareNet(): give the calling thread a fresh network namespace (tests and probes only).
static napi_value js_unshare(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t flags;
  if (!get_i32(env, argv[0], &flags)) return type_error(env, "unshare(flags)");
  if (unshare(flags) != 0) return throw_errno(env, "unshare", errno);
  return make_undef(env);
}

// ---- the daemon's unix socket (cli/daemon): listen, accept with a timeout, the peer's
// credentials, and receiving file descriptors (SCM_RIGHTS), none of which Node exposes.

// unixListen(path, backlog): a listening SOCK_STREAM socket bound at path (which must not exist).
static napi_value js_unix_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int32_t backlog;
  if (get_str(env, argv[0], path, sizeof path) != 1 || !get_i32(env, argv[1], &backlog)) return type_error(env, "unixListen(path, backlog)");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, path);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, backlog) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  return make_i32(env, fd);
}

static int wait_writable_poll(struct pollfd *p, int timeout_ms) {
  int r;
  do r = poll(p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  return r;
}

static int wait_readable(int fd, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r;
  do r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  return r;
}

// unixAccept(fd, timeoutMs): a connected socket, or -1 when nothing arrived in time.
static napi_value js_unix_accept(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, timeout_ms;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &timeout_ms)) return type_error(env, "unixAccept(fd, timeoutMs)");
  int r = wait_readable(fd, timeout_ms);
  if (r < 0) return throw_errno(env, "poll", errno);
  if (r == 0) return make_i32(env, -1);
  int c;
  do c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
  while (c < 0 && errno == EINTR);
  if (c < 0) return errno == EAGAIN || errno == ECONNABORTED ? make_i32(env, -1) : throw_errno(env, "accept4", errno);
  return make_i32(env, c);
}

// peerCred(fd): [pid, uid, gid] of the process at the other end (SO_PEERCRED).
static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return type_error(env, "peerCred(fd)");
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "getsockopt", errno);
  napi_value arr;
  napi_create_array_with_length(env, 3, &arr);
  napi_set_element(env, arr, 0, make_i32(env, cred.pid));
  napi_set_element(env, arr, 1, make_i32(env, (int32_t)cred.uid));
  napi_set_element(env, arr, 2, make_i32(env, (int32_t)cred.gid));
  return arr;
}

// recvWithFds(fd, buffer, timeoutMs): [bytes, ...fds]; bytes -1 on timeout, 0 at end of stream.
// Received descriptors are close-on-exec; the caller owns (and closes) them.
static napi_value js_recv_with_fds(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, timeout_ms;
  void *data;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || !get_i32(env, argv[2], &timeout_ms))
    return type_error(env, "recvWithFds(fd, buffer, timeoutMs)");
  napi_value arr;
  napi_create_array(env, &arr);
  int r = wait_readable(fd, timeout_ms);
  if (r < 0) return throw_errno(env, "poll", errno);
  if (r == 0) {
    napi_set_element(env, arr, 0, make_i32(env, -1));
    return arr;
  }
  union {
    char buf[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "recvmsg", errno);
  napi_set_element(env, arr, 0, make_i32(env, (int32_t)n));
  uint32_t k = 1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      napi_set_element(env, arr, k++, make_i32(env, got));
    }
  }
  return arr;
}

// close(fd): for descriptors this addon made (sockets, bpf objects, received descriptors). Node's
// fs.closeSync in a worker thread warns about every descriptor it did not open itself.
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return type_error(env, "close(fd)");
  if (close(fd) != 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return make_undef(env);
}

// peerGone(fd): has the other end of a connected socket closed or shut down its side? (poll with
// POLLRDHUP, no wait.) The daemon asks while a request waits, so that a caller killed by its
// runtime's timeout cancels the wait instead of leaving a request running for nobody.
static napi_value js_peer_gone(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return type_error(env, "peerGone(fd)");
  struct pollfd p = {.fd = fd, .events = POLLRDHUP};
  int r;
  do r = poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) return throw_errno(env, "poll", errno);
  napi_value b;
  napi_get_boolean(env, r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0, &b);
  return b;
}

// sendNoWait(fd, buffer): send what fits without blocking (MSG_DONTWAIT, no SIGPIPE); bytes sent,
// or -1 when the socket's buffer is full or the peer is gone. For a thread that must never block.
static napi_value js_send_no_wait(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  void *data;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok)
    return type_error(env, "sendNoWait(fd, buffer)");
  ssize_t n;
  do n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return make_i32(env, n < 0 ? -1 : (int32_t)n);
}

// sendAll(fd, buffer, timeoutMs): write all of buffer within timeoutMs (no SIGPIPE); true when all
// of it went, false on timeout or a peer that went away. A reply never blocks its writer for long.
static napi_value js_send_all(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, timeout_ms;
  void *data;
  size_t len;
  if (!get_i32(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || !get_i32(env, argv[2], &timeout_ms))
    return type_error(env, "sendAll(fd, buffer, timeoutMs)");
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(fd, (char *)data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = timeout_ms - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (left <= 0 || wait_writable_poll(&p, (int)left) <= 0) break;
  }
  napi_value b;
  napi_get_boolean(env, off == len, &b);
  return b;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"setns", NULL, js_setns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkOpen", NULL, js_netlink_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkSend", NULL, js_netlink_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"netlinkRecv", NULL, js_netlink_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flock", NULL, js_flock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bpf", NULL, js_bpf, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addressOf", NULL, js_address_of, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gettid", NULL, js_gettid, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unshare", NULL, js_unshare, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unixListen", NULL, js_unix_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unixAccept", NULL, js_unix_accept, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerCred", NULL, js_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvWithFds", NULL, js_recv_with_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flockTimed", NULL, js_flock_timed, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerGone", NULL, js_peer_gone, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendNoWait", NULL, js_send_no_wait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendAll", NULL, js_send_all, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
