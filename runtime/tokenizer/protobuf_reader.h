// A minimal, bounds-checked reader of the protobuf wire format: enough to walk
// a SentencePiece ModelProto without protoc. Every read checks the remaining
// bytes; malformed input throws Error naming the file and the byte offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "runtime/util/error.h"

namespace lmc::rt {

class ProtobufReader {
 public:
  enum WireType : int { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

  // Reads bytes [begin, end) of `data`; offsets in errors are relative to the
  // whole file (`base` is the offset of `data` in it).
  ProtobufReader(std::string_view data, const std::string& path, size_t base = 0)
      : data_(data), path_(path), base_(base) {}

  bool done() const { return pos_ >= data_.size(); }
  size_t offset() const { return base_ + pos_; }

  // Reads the next field key. Returns false at the end of the message.
  bool Next() {
    if (done()) return false;
    key_offset_ = offset();
    const uint64_t key = ReadVarint();
    field_ = static_cast<uint32_t>(key >> 3);
    wire_ = static_cast<int>(key & 7);
    if (field_ == 0)
      Fail("{}: byte offset {}: protobuf field number 0 is invalid", path_, key_offset_);
    if (wire_ != kVarint && wire_ != kFixed64 && wire_ != kLengthDelimited && wire_ != kFixed32) {
      Fail("{}: byte offset {}: unsupported protobuf wire type {} for field {}", path_, key_offset_,
           wire_, field_);
    }
    return true;
  }

  uint32_t field() const { return field_; }
  int wire() const { return wire_; }

  uint64_t Varint() {
    Expect(kVarint);
    return ReadVarint();
  }
  // int32 fields are sign-extended to 64 bits on the wire; bools are 0/1.
  int32_t Int32() { return static_cast<int32_t>(Varint()); }
  bool Bool() { return Varint() != 0; }
  float Float() {
    Expect(kFixed32);
    Need(4, "a 4-byte float");
    float v;
    std::memcpy(&v, data_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  // A length-delimited field: string, bytes or an embedded message.
  std::string_view Bytes() {
    Expect(kLengthDelimited);
    const uint64_t len = ReadVarint();
    Need(len, "the bytes of a length-delimited field");
    std::string_view out = data_.substr(pos_, len);
    pos_ += len;
    return out;
  }
  // A reader over the embedded message of the current field.
  ProtobufReader Message() {
    std::string_view bytes = Bytes();
    return ProtobufReader(bytes, path_, offset() - bytes.size());
  }
  void Skip() {
    switch (wire_) {
      case kVarint:
        ReadVarint();
        break;
      case kFixed64:
        Need(8, "a 64-bit field");
        pos_ += 8;
        break;
      case kFixed32:
        Need(4, "a 32-bit field");
        pos_ += 4;
        break;
      default:
        Bytes();
    }
  }

 private:
  void Expect(int wire) const {
    if (wire_ != wire) {
      Fail("{}: byte offset {}: protobuf field {} has wire type {}, expected {}", path_,
           key_offset_, field_, wire_, wire);
    }
  }
  void Need(uint64_t n, const char* what) const {
    if (n > data_.size() - pos_) {
      Fail("{}: truncated at byte offset {}: expected {} ({} bytes), {} left", path_, offset(),
           what, n, data_.size() - pos_);
    }
  }
  uint64_t ReadVarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) {
        Fail("{}: truncated at byte offset {}: expected the rest of a varint", path_, offset());
      }
      const uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    Fail("{}: byte offset {}: varint longer than 10 bytes", path_, offset());
  }

  std::string_view data_;
  const std::string& path_;
  size_t base_;
  size_t pos_ = 0;
  size_t key_offset_ = 0;
  uint32_t field_ = 0;
  int wire_ = 0;
};

}  // namespace lmc::rt
