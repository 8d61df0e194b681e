#include <cstdio>
int main() { std::puts("offgridflow-batch"); return 0; }
