/*
 * test.h - what every unit test includes: cmocka plus a registration
 * helper.  Each test file is one ctest entry (see tests/unit/CMakeLists.txt).
 */
#ifndef POSTERN_TEST_H
#define POSTERN_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#endif
