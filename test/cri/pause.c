// The pod sandbox's process for the CRI tests: what registry.k8s.io/pause does, in a static
// binary we build offline. PID 1 of the sandbox: sleep until SIGTERM/SIGINT, reap any orphan.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction q = {.sa_handler = quit}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGTERM, &q, NULL);
  sigaction(SIGINT, &q, NULL);
  sigaction(SIGCHLD, &r, NULL);
  for (;;) pause();
}
