// A weights file truncated (or rewritten in place) while it is mapped raises SIGBUS at the
// next read of a page that is gone: by default the process dies without a word, and output
// it had buffered is lost. MappedFile guards its mappings: a SIGBUS whose address lies in one
// writes the output registered below to stdout, then one line to stderr,
//   PROGRAM: error: PATH: the file was truncated or changed while in use
// and exits with status 1 (all with write(2) and _exit: nothing that is not
// async-signal-safe). A SIGBUS elsewhere goes to the handler installed before, or kills.
// Programs opt in (lmc and model binaries do): a library must not exit its host process.
#pragma once

#include <cstddef>
#include <string>

namespace lmc::rt {

// From now on, MappedFile guards its mappings (the SIGBUS handler is installed at the first).
void EnableMappingGuards();

// Once enabled, guards [data, data + size), mapped from `path`; UnguardMapping(data) ends it. A
// process mapping more files at once than the guard holds (256) leaves the others unguarded.
void GuardMapping(const void* data, size_t size, const std::string& path);
void UnguardMapping(const void* data);

// Output the program holds back (to write in blocks) that such a fault should still write
// to stdout: [data, data + size) must stay valid until the next call; (nullptr, 0) for none.
// Only between weight reads, from the thread that reads them (not during a ParallelFor).
void SetUnwrittenOutput(const char* data, size_t size);

}  // namespace lmc::rt
