// int80: calls getpid through the i386 entry point (`int $0x80`, i386
// syscall number 20) from a 64-bit process. seccomp sees arch
// AUDIT_ARCH_I386 there, so detrun's filter must kill the process instead of
// letting i386 numbers slip past x86-64 number checks. Natively it prints
// "int80 getpid=PID" (or an error when IA32 emulation is off).
#include <stdio.h>

int main(void) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
  printf("int80 getpid=%ld\n", ret);
  return 0;
}
