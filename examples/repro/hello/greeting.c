#include "greeting.h"

const char* Greeting(void) { return "hello, reproducible world"; }
