// Compiled by tests/layers/CMakeLists.txt with one library's include path and PROBE_HEADER set to
// a header that library may or may not name: the layers the build enforces, shown by a test.
#include PROBE_HEADER
