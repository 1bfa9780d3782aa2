// Reading and writing files the way hostile inputs demand: reads are bounded,
// refuse anything but regular files (a FIFO or /dev/zero would hang or never
// end) and note the file as an input; writes follow runtime/util/output_file.h
// (never over an input or a non-regular file, whole or not at all).
#pragma once

#include <string>
#include <string_view>

namespace lmc {

// Reads the regular file `path` if it holds at most `max_bytes`. On failure
// returns false with `error` saying why ("is a directory", "is not a regular
// file (a FIFO)", "is 3 MiB; at most 1 MiB is read", the system error).
bool ReadRegularFile(const std::string& path, size_t max_bytes, std::string& out,
                     std::string& error);

// Replaces `path` with `data` atomically, leaving mode `mode` (e.g. 0644,
// 0755), as rt::WriteFileAtomically. On failure returns false with `error`, a
// message that names the path, and leaves any old file at `path` untouched.
bool WriteFileAtomically(const std::string& path, std::string_view data, unsigned mode,
                         std::string& error);

// "1.5 MiB", "512 bytes": a size for messages.
std::string DescribeBytes(double bytes);

}  // namespace lmc
