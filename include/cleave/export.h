/* cleave: symbol visibility of the public API. */
#ifndef CLEAVE_EXPORT_H
#define CLEAVE_EXPORT_H
#if defined(__GNUC__) || defined(__clang__)
#define CLEAVE_API __attribute__((visibility("default")))
#else
#define CLEAVE_API
#endif
#endif
