// notify_floor: the floor of a seccomp user-notification round trip on this
// machine, without detrun. A child installs a filter that notifies
// getppid() and calls it N times; the parent is a bare supervisor.
//
//   notify_floor N recv    RECV, SEND                     (the kernel's floor)
//   notify_floor N epoll   epoll_wait, RECV, SEND         (an event loop)
//   notify_floor N write   epoll_wait, RECV, ID_VALID, process_vm_writev of
//                          16 bytes, SEND                 (detrun's getrandom path)
//   notify_floor N tsd     as write, with only the child trapping rdtsc
//                          (PR_SET_TSC): each switch then rewrites CR4
//
//   notify_floor N MODE SPIN   the child first spins SPIN iterations of an
//                          empty loop before each call, as a program works
//                          between its calls: the supervisor then sleeps
//                          between notifications, and how it is woken
//                          (recv against epoll) shows
//
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP is set (Linux 6.6+). Prints the mean
// per call, timed by the parent over all N, and with SPIN the spin's own
// time, measured in the parent before the run.
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

// By syscall: under the tsd mode the vDSO's clock would trap.
static double Now(void) {
  struct timespec ts;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void SendFd(int sock, int fd) {
  char byte = 0;
  struct iovec io = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {0};
  msg.msg_iov = &io;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &msg, 0) != 1) _exit(2);
}

static int ReceiveFd(int sock) {
  char byte;
  struct iovec io = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {0};
  msg.msg_iov = &io;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(sock, &msg, 0) != 1) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof fd);
  return fd;
}

// Work between calls, which no compiler removes.
static void Spin(long iterations) {
  for (volatile long i = 0; i < iterations; ++i) {
  }
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: notify_floor N recv|epoll|write|tsd [SPIN]\n");
    return 2;
  }
  const long n = atol(argv[1]);
  const long spin = argc == 4 ? atol(argv[3]) : 0;
  const char* mode = argv[2];
  const int use_epoll = strcmp(mode, "recv") != 0;
  const int write_back = strcmp(mode, "write") == 0 || strcmp(mode, "tsd") == 0;
  const int child_tsd = strcmp(mode, "tsd") == 0;
  if (n <= 0 || spin < 0 || (use_epoll && !write_back && strcmp(mode, "epoll") != 0)) {
    fprintf(stderr, "notify_floor: bad arguments\n");
    return 2;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    if (child_tsd) prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    const int listener =
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0) _exit(3);
    SendFd(sv[0], listener);
    close(listener);
    char go;
    if (read(sv[0], &go, 1) != 1) _exit(4);
    char buf[16];
    for (long i = 0; i < n; ++i) {
      Spin(spin);
      syscall(SYS_getppid, buf);
    }
    _exit(0);
  }
  double spin_ns = 0;
  if (spin > 0) {
    const double t = Now();
    for (long i = 0; i < n; ++i) Spin(spin);
    spin_ns = (Now() - t) * 1e9 / n;
  }
  const int listener = ReceiveFd(sv[1]);
  if (listener < 0) return 1;
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
  const int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  if (write(sv[1], "x", 1) != 1) return 1;
  const double start = Now();
  for (long i = 0; i < n; ++i) {
    if (use_epoll) {
      struct epoll_event ready;
      if (epoll_wait(ep, &ready, 1, -1) != 1) return 1;
    }
    struct seccomp_notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) return 1;
    if (write_back) {
      ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id);
      static char payload[16];
      struct iovec local = {payload, sizeof payload};
      struct iovec remote = {(void*)req.data.args[0], sizeof payload};
      process_vm_writev(req.pid, &local, 1, &remote, 1, 0);
    }
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0) return 1;
  }
  const double seconds = Now() - start;
  int status;
  waitpid(child, &status, 0);
  if (spin > 0) {
    printf("%.0f ns per call, of which the child's spin takes %.0f ns\n", seconds * 1e9 / n,
           spin_ns);
  } else {
    printf("%.0f ns per call\n", seconds * 1e9 / n);
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
