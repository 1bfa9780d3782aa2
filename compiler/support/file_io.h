// Reading and writing files the way hostile inputs demand: reads are bounded
// and refuse anything but regular files (a FIFO or /dev/zero would hang or
// never end); writes go to a unique temporary file beside the target, are
// fsynced and renamed over it, so a failure (a full disk, a crash) leaves the
// old file, and they never replace a directory, a device or another
// non-regular file.
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
// 0755). Refuses a target that exists and is not a regular file. On failure
// returns false with `error` (naming no path: callers add it) and leaves any
// old file at `path` untouched.
bool WriteFileAtomically(const std::string& path, std::string_view data, unsigned mode,
                         std::string& error);

// True if both paths exist and name the same file (after links).
bool SameFile(const std::string& a, const std::string& b);

// "1.5 MiB", "512 bytes": a size for messages.
std::string DescribeBytes(double bytes);

}  // namespace lmc
