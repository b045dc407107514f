// Kernel constants newer than the Linux 6.1 UAPI headers Debian 12 ships.
// Each is defined here once, with the kernel version that introduced it;
// nothing else in detrun may define these. The values are kernel ABI and
// never change. (The machine runs 6.18; detrun requires >= 5.14 and probes
// for each feature at run time.)
#ifndef DETRUN_CORE_LINUX_COMPAT_H_
#define DETRUN_CORE_LINUX_COMPAT_H_

#include <linux/seccomp.h>
#include <sys/ioctl.h>

// seccomp: wake the supervisor's thread on the waiting task's CPU (6.6).
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
// seccomp: notified task waits killably once the notification is received (5.19).
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

// pidfd_open(2) on a thread id rather than a thread-group leader (6.9).
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

// memfd_create: the file can never be made executable (6.3).
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

// pidfd: PIDFD_GET_INFO (6.13): a task's pid, tgid and ppid in the
// caller's pid namespace (PIDFD_INFO_PID, always filled in), and its
// PIDFD_INFO_EXIT part (6.15): the wait status of a process that has been
// reaped, for any pidfd holder. The struct is the kernel's struct
// pidfd_info (include/uapi/linux/pidfd.h).
#define DETRUN_PIDFD_INFO_PID (1ULL << 0)
#define DETRUN_PIDFD_INFO_EXIT (1ULL << 3)
struct DetrunPidfdInfo {
  __u64 mask;
  __u64 cgroupid;
  __u32 pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  __s32 exit_code;
  __u32 coredump_mask;
  __u32 spare;
};
#define DETRUN_PIDFD_GET_INFO _IOWR(0xFF, 11, struct DetrunPidfdInfo)

// Landlock ABI 3 (6.2): truncate; ABI 5 (6.10): ioctl on devices.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

// x86-64 syscall numbers added after 6.1. (335 and 336 sit in the gap the
// x86-64 table leaves below 424; they are numbered like the others here.)
#define DETRUN_NR_uretprobe 335           // 6.11
#define DETRUN_NR_uprobe 336              // 6.18
#define DETRUN_NR_cachestat 451           // 6.5
#define DETRUN_NR_fchmodat2 452           // 6.6
#define DETRUN_NR_map_shadow_stack 453    // 6.6
#define DETRUN_NR_futex_wake 454          // 6.7
#define DETRUN_NR_futex_wait 455          // 6.7
#define DETRUN_NR_futex_requeue 456       // 6.7
#define DETRUN_NR_statmount 457           // 6.8
#define DETRUN_NR_listmount 458           // 6.8
#define DETRUN_NR_lsm_get_self_attr 459   // 6.8
#define DETRUN_NR_lsm_set_self_attr 460   // 6.8
#define DETRUN_NR_lsm_list_modules 461    // 6.8
#define DETRUN_NR_mseal 462               // 6.10
#define DETRUN_NR_setxattrat 463          // 6.13
#define DETRUN_NR_getxattrat 464          // 6.13
#define DETRUN_NR_listxattrat 465         // 6.13
#define DETRUN_NR_removexattrat 466       // 6.13
#define DETRUN_NR_open_tree_attr 467      // 6.15
#define DETRUN_NR_file_getattr 468        // 6.17
#define DETRUN_NR_file_setattr 469        // 6.17
#define DETRUN_NR_listns 470              // 6.19

#endif  // DETRUN_CORE_LINUX_COMPAT_H_
