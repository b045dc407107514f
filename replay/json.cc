#include "replay/json.h"

#include <array>
#include <charconv>
#include <limits>
#include <unordered_set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace detrun::json {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes
// there are not one (overlong forms, surrogates and code points above
// U+10FFFF are invalid, as in RFC 3629).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return len;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

constexpr char kHex[] = "0123456789abcdef";

void AppendEscape16(uint32_t unit, std::string* out) {
  out->append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(unit >> shift) & 0xF]);
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<Value> ParseAll() {
    Value v;
    if (absl::Status s = ParseValue(0, &v); !s.ok()) return s;
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected data after the value");
    return v;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at byte ", pos_, ": ", std::string(what)));
  }

  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::Status ParseValue(int depth, Value* out) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end of input");
    const char c = text_[pos_];
    switch (c) {
      case '{': return ParseObject(depth, out);
      case '[': return ParseArray(depth, out);
      case '"': {
        std::string s;
        if (absl::Status st = ParseString(&s); !st.ok()) return st;
        *out = Value::String(std::move(s));
        return absl::OkStatus();
      }
      case 't':
        if (!Consume("true")) return Error("invalid literal");
        *out = Value::Bool(true);
        return absl::OkStatus();
      case 'f':
        if (!Consume("false")) return Error("invalid literal");
        *out = Value::Bool(false);
        return absl::OkStatus();
      case 'n':
        if (!Consume("null")) return Error("invalid literal");
        *out = Value();
        return absl::OkStatus();
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
        return Error(absl::StrCat("unexpected character 0x", absl::Hex(static_cast<unsigned char>(c))));
    }
  }

  absl::Status ParseNumber(Value* out) {
    const bool negative = text_[pos_] == '-';
    if (negative) ++pos_;
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    const size_t digits = pos_ - start;
    if (digits == 0) return Error("a number needs digits");
    if (digits > 1 && text_[start] == '0') return Error("numbers have no leading zeros");
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
      return Error("only integers are allowed");
    }
    uint64_t magnitude = 0;
    auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, magnitude);
    if (ec != std::errc() || end != text_.data() + pos_) return Error("integer out of range");
    if (negative) {
      if (magnitude > uint64_t{1} << 63) return Error("integer out of range");
      if (magnitude == 0) return Error("-0 is not allowed");
      *out = magnitude == uint64_t{1} << 63 ? Value::Int(std::numeric_limits<int64_t>::min())
                                            : Value::Int(-static_cast<int64_t>(magnitude));
    } else {
      *out = Value::Uint(magnitude);
    }
    return absl::OkStatus();
  }

  absl::Status ParseHex4(uint32_t* unit) {
    if (pos_ + 4 > text_.size()) return Error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        v |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        v |= h - 'A' + 10;
      } else {
        return Error("invalid \\u escape");
      }
    }
    *unit = v;
    return absl::OkStatus();
  }

  absl::Status ParseString(std::string* out) {
    ++pos_;  // the opening quote
    for (;;) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error("unescaped control character in a string");
      if (c == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) return Error("unterminated string");
        const char e = text_[pos_++];
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            uint32_t unit = 0;
            if (absl::Status s = ParseHex4(&unit); !s.ok()) return s;
            if (unit >= 0xD800 && unit <= 0xDBFF) {
              // A high surrogate must be followed by a low one.
              uint32_t low = 0;
              if (!Consume("\\u")) return Error("lone high surrogate");
              if (absl::Status s = ParseHex4(&low); !s.ok()) return s;
              if (low < 0xDC00 || low > 0xDFFF) return Error("lone high surrogate");
              AppendUtf8(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), out);
            } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
              // surrogateescape: \udc80..\udcff stands for one raw byte.
              if (unit < 0xDC80 || unit > 0xDCFF) return Error("lone low surrogate");
              out->push_back(static_cast<char>(unit - 0xDC00));
            } else {
              AppendUtf8(unit, out);
            }
            break;
          }
          default: return Error("invalid escape");
        }
        continue;
      }
      const size_t len = Utf8SequenceLength(text_, pos_);
      if (len == 0) return Error("invalid UTF-8 in a string");
      out->append(text_.substr(pos_, len));
      pos_ += len;
    }
  }

  absl::Status ParseArray(int depth, Value* out) {
    ++pos_;
    *out = Value::Array();
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return absl::OkStatus();
    }
    for (;;) {
      Value element;
      if (absl::Status s = ParseValue(depth + 1, &element); !s.ok()) return s;
      out->Push(std::move(element));
      SkipSpace();
      if (pos_ >= text_.size()) return Error("unterminated array");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == ']') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error("expected ',' or ']'");
    }
  }

  absl::Status ParseObject(int depth, Value* out) {
    ++pos_;
    *out = Value::Object();
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return absl::OkStatus();
    }
    std::unordered_set<std::string> keys;
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected a key");
      std::string key;
      if (absl::Status s = ParseString(&key); !s.ok()) return s;
      if (!keys.insert(key).second) return Error(absl::StrCat("duplicate key \"", key, "\""));
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      Value member;
      if (absl::Status s = ParseValue(depth + 1, &member); !s.ok()) return s;
      out->Add(std::move(key), std::move(member));
      SkipSpace();
      if (pos_ >= text_.size()) return Error("unterminated object");
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error("expected ',' or '}'");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.type_ = Type::kInt;
  v.negative_ = i < 0;
  v.magnitude_ = i < 0 ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
  return v;
}

Value Value::Uint(uint64_t u) {
  Value v;
  v.type_ = Type::kInt;
  v.magnitude_ = u;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}

Value Value::Array() {
  Value v;
  v.type_ = Type::kArray;
  return v;
}

Value Value::Object() {
  Value v;
  v.type_ = Type::kObject;
  return v;
}

bool Value::GetInt64(int64_t* out) const {
  if (type_ != Type::kInt) return false;
  if (negative_) {
    if (magnitude_ > uint64_t{1} << 63) return false;
    *out = static_cast<int64_t>(0 - magnitude_);
    return true;
  }
  if (magnitude_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  *out = static_cast<int64_t>(magnitude_);
  return true;
}

bool Value::GetUint64(uint64_t* out) const {
  if (type_ != Type::kInt || negative_) return false;
  *out = magnitude_;
  return true;
}

const Value* Value::Find(std::string_view key) const {
  for (const auto& [k, v] : members_) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value& Value::Push(Value v) {
  array_.push_back(std::move(v));
  return array_.back();
}

Value& Value::Add(std::string key, Value v) {
  members_.emplace_back(std::move(key), std::move(v));
  return members_.back().second;
}

absl::StatusOr<Value> Parse(std::string_view text) { return Parser(text).ParseAll(); }

namespace {

// Bytes a string can hold as they are: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

}  // namespace

void AppendString(std::string_view s, std::string* out) {
  // The common case, a plain ASCII string (identities, names, paths), in
  // one append.
  size_t plain = 0;
  while (plain < s.size() && kPlain[static_cast<unsigned char>(s[plain])]) ++plain;
  out->push_back('"');
  out->append(s.data(), plain);
  if (plain == s.size()) {
    out->push_back('"');
    return;
  }
  size_t i = plain;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (kPlain[c]) {
      size_t j = i + 1;
      while (j < s.size() && kPlain[static_cast<unsigned char>(s[j])]) ++j;
      out->append(s.substr(i, j - i));
      i = j;
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); ++i; continue;
      case '\\': out->append("\\\\"); ++i; continue;
      case '\b': out->append("\\b"); ++i; continue;
      case '\f': out->append("\\f"); ++i; continue;
      case '\n': out->append("\\n"); ++i; continue;
      case '\r': out->append("\\r"); ++i; continue;
      case '\t': out->append("\\t"); ++i; continue;
      default: break;
    }
    if (c < 0x20) {
      AppendEscape16(c, out);
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(s, i);
    if (len == 0) {
      AppendEscape16(0xDC00 + c, out);  // surrogateescape
      ++i;
      continue;
    }
    out->append(s.substr(i, len));
    i += len;
  }
  out->push_back('"');
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out->append(buf, end);
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out->append(buf, end);
}

void Append(const Value& value, std::string* out) {
  switch (value.type()) {
    case Value::Type::kNull: out->append("null"); return;
    case Value::Type::kBool: out->append(value.bool_value() ? "true" : "false"); return;
    case Value::Type::kInt: {
      uint64_t u;
      int64_t i;
      if (value.GetUint64(&u)) {
        AppendUint(u, out);
      } else if (value.GetInt64(&i)) {
        AppendInt(i, out);
      }
      return;
    }
    case Value::Type::kString: AppendString(value.string(), out); return;
    case Value::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const Value& v : value.array()) {
        if (!first) out->push_back(',');
        first = false;
        Append(v, out);
      }
      out->push_back(']');
      return;
    }
    case Value::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, v] : value.object()) {
        if (!first) out->push_back(',');
        first = false;
        AppendString(k, out);
        out->push_back(':');
        Append(v, out);
      }
      out->push_back('}');
      return;
    }
  }
}

std::string Serialize(const Value& value) {
  std::string out;
  Append(value, &out);
  return out;
}

}  // namespace detrun::json
