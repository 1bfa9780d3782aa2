// The one rule for every file lmc or a model binary writes (outputs, checkpoints,
// specs, binaries): it never replaces a file the same process has read, it never
// replaces anything but a regular file, and it appears whole or not at all.
//
// Readers note each file they open (NoteInput); in a command-line tool, which
// calls ProtectInputs first, OutputFile refuses a target that is one of them,
// compared by device and inode, so a symlink or hard link to an input is caught
// too (a library user may well rewrite a file it read: it is not protected).
//
// Bytes go to a temporary file beside the target, which is fsynced and renamed
// over it: a failure (a full disk, an exception) leaves the old file, and SIGINT,
// SIGTERM or SIGHUP remove the temporary file before the process dies of it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lmc::rt {

// From now on, the files this process reads are noted and never written over:
// the first call of every command-line tool's main(). (false: a test's way back.)
void ProtectInputs(bool on = true);

// Records that the process reads `path`, open as `fd` (or, without fd, as it is now).
void NoteInput(int fd, const std::string& path);
void NoteInput(const std::string& path);

// Throws Error naming `target` unless it may be written: it is none of the noted
// inputs, and if it exists it is a regular file.
void CheckOutputPath(const std::string& target);

class OutputFile {
 public:
  // Checks `target` (CheckOutputPath) and creates the temporary file beside it.
  explicit OutputFile(std::string target, unsigned mode = 0644);
  ~OutputFile();  // Removes the temporary file unless committed.
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void Write(const void* data, size_t bytes);
  void Write(std::string_view text) { Write(text.data(), text.size()); }
  // fsync, close, and rename over the target (checked again: an input may have been
  // linked there meanwhile); then makes the rename durable.
  void Commit();

 private:
  std::string target_;
  std::string temp_;
  unsigned mode_;
  int fd_ = -1;
  int slot_ = -1;  // In the signal handler's list of temporary files.
};

// What a file of st_mode `mode` is, for messages: "a directory", "a FIFO", ...
const char* FileKind(unsigned mode);

// An OutputFile written with `data` and committed.
void WriteFileAtomically(const std::string& target, std::string_view data, unsigned mode = 0644);

}  // namespace lmc::rt
