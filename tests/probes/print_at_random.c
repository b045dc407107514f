// print_at_random: prints the 16 AT_RANDOM bytes the kernel (or detrun, in
// its post-exec stop) left for this process, as hex. glibc derives the stack
// canary and pointer guard from them; Go seeds its runtime from them.
#include <stdio.h>
#include <sys/auxv.h>

int main(void) {
  const unsigned char* r = (const unsigned char*)getauxval(AT_RANDOM);
  printf("at_random=");
  for (int i = 0; i < 16; ++i) printf("%02x", r[i]);
  printf("\n");
  return 0;
}
