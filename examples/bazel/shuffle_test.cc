// A test that is not flaky: it shuffles with random bytes from getrandom(2)
// and checks only what holds for every shuffle. Its detrun_flaky_test
// passes, on every shard.
#include <sys/random.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <vector>

int main() {
  std::vector<int> v(32);
  std::iota(v.begin(), v.end(), 0);
  for (size_t i = v.size() - 1; i > 0; --i) {
    unsigned int r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) return 2;
    std::swap(v[i], v[r % (i + 1)]);
  }
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 32; ++i) {
    if (sorted[i] != i) {
      std::printf("FAIL: lost element %d\n", i);
      return 1;
    }
  }
  std::printf("ok, first %d\n", v[0]);
  return 0;
}
