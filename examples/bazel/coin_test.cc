// A flaky test: it "flips a coin" from getrandom(2) and fails on one byte
// value in eight. Under detrun the byte follows --seed, so each seed
// either always passes or always fails; detrun_flaky_test finds a failing
// seed and names `culprit: random`.
//
// (getrandom, not std::random_device: libstdc++'s random_device may use
// the rdrand instruction, which no syscall interception can see.)
#include <sys/random.h>

#include <cstdio>

int main() {
  unsigned char byte = 0;
  if (getrandom(&byte, 1, 0) != 1) return 2;
  if (byte % 8 == 0) {
    std::printf("FAIL: the coin landed on its edge (%u)\n", byte);
    return 1;
  }
  std::printf("ok (%u)\n", byte);
  return 0;
}
