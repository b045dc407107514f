// A tiny program whose release build embeds when it was built, as many do.
#include <stdio.h>

#include "greeting.h"

int main(void) {
  printf("%s (built %s %s)\n", Greeting(), __DATE__, __TIME__);
  return 0;
}
