// cpu_times: prints what the accounting calls say, one figure per line:
// times() (return value and the four tms fields), getrusage() for SELF,
// THREAD and CHILDREN (utime, stime, maxrss, and the fault and
// context-switch counts), sysinfo() (uptime and the memory figures) and
// clock(); then how the calls fail (a bad `who`, bad pointers), times(NULL)
// and a last times() after all those reads. Under detrun all of it is a
// function of --time/--clock/--tick; natively the figures vary from run to
// run (and maxrss is never 0).
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

static void show_rusage(const char* name, int who) {
  struct rusage ru;
  memset(&ru, 0xff, sizeof ru);  // what the call does not write shows
  if (getrusage(who, &ru) != 0) {
    printf("%s error %s\n", name, strerrorname_np(errno));
    return;
  }
  printf("%s_utime %lld.%06ld\n", name, (long long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
  printf("%s_stime %lld.%06ld\n", name, (long long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
  printf("%s_maxrss %ld\n", name, ru.ru_maxrss);
  printf("%s_minflt %ld\n", name, ru.ru_minflt);
  printf("%s_majflt %ld\n", name, ru.ru_majflt);
  printf("%s_nvcsw %ld\n", name, ru.ru_nvcsw);
  printf("%s_nivcsw %ld\n", name, ru.ru_nivcsw);
}

// The raw syscall's result, or the errno name when it fails.
static void show_raw(const char* name, long ret) {
  if (ret < 0) {
    printf("%s %s\n", name, strerrorname_np(errno));
  } else {
    printf("%s %ld\n", name, ret);
  }
}

int main(void) {
  printf("clk_tck %ld\n", sysconf(_SC_CLK_TCK));

  struct tms t;
  memset(&t, 0xff, sizeof t);
  clock_t ticks = times(&t);
  printf("times %ld\n", (long)ticks);
  printf("tms_utime %ld\n", (long)t.tms_utime);
  printf("tms_stime %ld\n", (long)t.tms_stime);
  printf("tms_cutime %ld\n", (long)t.tms_cutime);
  printf("tms_cstime %ld\n", (long)t.tms_cstime);

  show_rusage("self", RUSAGE_SELF);
  show_rusage("thread", RUSAGE_THREAD);
  show_rusage("children", RUSAGE_CHILDREN);

  struct sysinfo si;
  memset(&si, 0xff, sizeof si);
  if (sysinfo(&si) != 0) {
    printf("sysinfo error %s\n", strerrorname_np(errno));
  } else {
    printf("sysinfo_uptime %ld\n", si.uptime);
    printf("sysinfo_loads %lu %lu %lu\n", si.loads[0], si.loads[1], si.loads[2]);
    printf("sysinfo_totalram %lu\n", si.totalram);
    printf("sysinfo_freeram %lu\n", si.freeram);
    printf("sysinfo_sharedram %lu\n", si.sharedram);
    printf("sysinfo_bufferram %lu\n", si.bufferram);
    printf("sysinfo_totalswap %lu\n", si.totalswap);
    printf("sysinfo_freeswap %lu\n", si.freeswap);
    printf("sysinfo_procs %u\n", (unsigned)si.procs);
    printf("sysinfo_totalhigh %lu\n", si.totalhigh);
    printf("sysinfo_freehigh %lu\n", si.freehigh);
    printf("sysinfo_mem_unit %u\n", si.mem_unit);
  }

  printf("clock %ld\n", (long)clock());

  // Failures, through the raw syscalls (glibc's times() dereferences a bad
  // buffer itself to tell -EFAULT from a clock value).
  show_raw("getrusage_bad_who", syscall(SYS_getrusage, 7, &(struct rusage){0}));
  show_raw("getrusage_both", syscall(SYS_getrusage, -2, &(struct rusage){0}));
  show_raw("getrusage_efault", syscall(SYS_getrusage, RUSAGE_SELF, (void*)8));
  show_raw("times_efault", syscall(SYS_times, (void*)8));
  show_raw("sysinfo_efault", syscall(SYS_sysinfo, (void*)8));
  // times(NULL) only answers the uptime in ticks.
  show_raw("times_null", syscall(SYS_times, NULL));
  // Once more at the end: in step mode the clock has moved by then.
  memset(&t, 0xff, sizeof t);
  ticks = times(&t);
  printf("times_end %ld utime %ld\n", (long)ticks, (long)t.tms_utime);
  return 0;
}
