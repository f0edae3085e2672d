/* fuzz.h - the libFuzzer entry points each harness (api.c, cli.c) defines,
 * for the replay driver (replay.c) that runs them without libFuzzer. */
#ifndef VMS_FUZZ_H
#define VMS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Once, before the first input.  Returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* One input; returns 0, and aborts on a finding. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* VMS_FUZZ_H */
