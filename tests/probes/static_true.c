// static_true: a static binary that does nothing; used to check where a
// process stands when detrun's post-exec stop happens (its entry point).
int main(void) { return 0; }
