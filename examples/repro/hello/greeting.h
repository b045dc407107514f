#ifndef GREETING_H_
#define GREETING_H_
const char* Greeting(void);
#endif
