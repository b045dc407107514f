// A small, strict JSON reader and writer for the subset detrun's traces
// use (docs/trace-format.md): objects, arrays, strings, integers, booleans
// and null. No JSON library ships with Debian's Abseil, and a trace reader
// must never crash or guess on a damaged file, so this one is deliberately
// narrow:
//
//   - Valid JSON only (RFC 8259): no comments, trailing commas, single
//     quotes, NaN, leading zeros or unescaped control characters; a
//     duplicate key in an object is an error.
//   - Numbers must be integers that fit in 64 bits (signed or unsigned);
//     fractions and exponents are refused (the traces have none).
//   - Nesting is limited to kMaxDepth, so hostile input cannot exhaust the
//     stack.
//   - Strings are byte strings. Valid UTF-8 is written as is; every byte
//     that is not part of valid UTF-8 is written as a lone low surrogate
//     escape \udc80..\udcff (Python's "surrogateescape"), and read back as
//     that byte. So any argv or path, whatever its bytes, round-trips
//     exactly; other lone surrogates are refused.
//
// The writer's output is canonical (no spaces, the shortest escapes, keys
// in the order given), so parsing and writing again gives the same bytes.
#ifndef DETRUN_REPLAY_JSON_H_
#define DETRUN_REPLAY_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace detrun::json {

inline constexpr int kMaxDepth = 32;

class Value {
 public:
  enum class Type { kNull, kBool, kInt, kString, kArray, kObject };
  using Members = std::vector<std::pair<std::string, Value>>;

  Value() = default;  // null
  static Value Bool(bool b);
  static Value Int(int64_t v);
  static Value Uint(uint64_t v);
  static Value String(std::string s);
  static Value Array();
  static Value Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool bool_value() const { return bool_; }
  // Integers: false when the value is not an integer or does not fit.
  bool GetInt64(int64_t* out) const;
  bool GetUint64(uint64_t* out) const;
  const std::string& string() const { return string_; }
  const std::vector<Value>& array() const { return array_; }
  const Members& object() const { return members_; }

  // Object member `key`, or nullptr.
  const Value* Find(std::string_view key) const;
  // Appends to an array / object (no duplicate check: the writer's
  // caller decides the keys).
  Value& Push(Value v);
  Value& Add(std::string key, Value v);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool negative_ = false;   // kInt: sign
  uint64_t magnitude_ = 0;  // kInt: absolute value
  std::string string_;
  std::vector<Value> array_;
  Members members_;
};

// Parses exactly one JSON value spanning all of `text` (whitespace allowed
// around tokens). Errors name the byte offset and what was wrong.
absl::StatusOr<Value> Parse(std::string_view text);

// Canonical serialisation, appended to `out`.
void Append(const Value& value, std::string* out);
std::string Serialize(const Value& value);

// The pieces, for writers that build a line without a Value.
void AppendString(std::string_view s, std::string* out);  // with quotes
void AppendInt(int64_t v, std::string* out);
void AppendUint(uint64_t v, std::string* out);

}  // namespace detrun::json

#endif  // DETRUN_REPLAY_JSON_H_
