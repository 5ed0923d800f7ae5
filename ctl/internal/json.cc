// The JSON reader: recursive descent over a string_view, with a depth limit.
#include "ctl/internal/json.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace sv::ctl::internal {
namespace {

constexpr int kMaxDepth = 256;

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  std::expected<Json, std::string> Document() {
    Json value;
    if (!Value(value, 0)) return std::unexpected(error_);
    SkipSpace();
    if (pos_ != text_.size()) return std::unexpected(Where("unexpected text after the value"));
    return value;
  }

 private:
  bool Value(Json& out, int depth) {
    SkipSpace();
    if (depth > kMaxDepth) return Fail("nested too deep");
    if (pos_ >= text_.size()) return Fail("unexpected end");
    switch (text_[pos_]) {
      case '{': return Object(out, depth);
      case '[': return Array(out, depth);
      case '"': out.type = Json::Type::kString; return String(out.string);
      case 't': return Literal("true", out, Json::Type::kBool, true);
      case 'f': return Literal("false", out, Json::Type::kBool, false);
      case 'n': return Literal("null", out, Json::Type::kNull, false);
      default: return Number(out);
    }
  }

  bool Object(Json& out, int depth) {
    out.type = Json::Type::kObject;
    ++pos_;
    if (Consume('}')) return true;
    do {
      SkipSpace();
      std::string key;
      if (pos_ >= text_.size() || text_[pos_] != '"' || !String(key)) return Fail("expected a member name");
      if (!Consume(':')) return Fail("expected ':'");
      out.members.emplace_back(std::move(key), Json());
      if (!Value(out.members.back().second, depth + 1)) return false;
    } while (Consume(','));
    return Consume('}') || Fail("expected ',' or '}'");
  }

  bool Array(Json& out, int depth) {
    out.type = Json::Type::kArray;
    ++pos_;
    if (Consume(']')) return true;
    do {
      out.items.emplace_back();
      if (!Value(out.items.back(), depth + 1)) return false;
    } while (Consume(','));
    return Consume(']') || Fail("expected ',' or ']'");
  }

  bool Literal(std::string_view word, Json& out, Json::Type type, bool boolean) {
    if (text_.substr(pos_, word.size()) != word) return Fail("unexpected character");
    pos_ += word.size();
    out.type = type;
    out.boolean = boolean;
    return true;
  }

  bool Number(Json& out) {
    const std::size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    bool integral = true;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '.' || c == 'e' || c == 'E' || ((c == '+' || c == '-') && !integral)) {
        integral = false;
      } else if (c < '0' || c > '9') {
        break;
      }
      ++pos_;
    }
    const std::string_view digits = text_.substr(start, pos_ - start);
    if (digits.empty() || digits == "-") return Fail("unexpected character");
    out.type = Json::Type::kNumber;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out.integer);
    out.integral = integral && ec == std::errc() && end == digits.data() + digits.size();
    out.number = std::strtod(std::string(digits).c_str(), nullptr);
    return true;
  }

  bool String(std::string& out) {
    ++pos_;  // the opening quote
    for (;;) {
      const std::size_t run = text_.find_first_of("\"\\", pos_);
      if (run == std::string_view::npos) return Fail("unterminated string");
      out.append(text_.substr(pos_, run - pos_));
      pos_ = run + 1;
      if (text_[run] == '"') return true;
      if (!Escape(out)) return false;
    }
  }

  bool Escape(std::string& out) {
    if (pos_ >= text_.size()) return Fail("unterminated string");
    const char c = text_[pos_++];
    switch (c) {
      case '"': case '\\': case '/': out += c; return true;
      case 'b': out += '\b'; return true;
      case 'f': out += '\f'; return true;
      case 'n': out += '\n'; return true;
      case 'r': out += '\r'; return true;
      case 't': out += '\t'; return true;
      case 'u': return Unicode(out);
      default: return Fail("bad escape");
    }
  }

  bool Hex4(std::uint32_t& code) {
    if (pos_ + 4 > text_.size()) return Fail("bad \\u escape");
    auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
    if (ec != std::errc() || end != text_.data() + pos_ + 4) return Fail("bad \\u escape");
    pos_ += 4;
    return true;
  }

  // \uXXXX, a surrogate pair joined, as UTF-8.
  bool Unicode(std::string& out) {
    std::uint32_t code = 0;
    if (!Hex4(code)) return false;
    if (code >= 0xD800 && code < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
      pos_ += 2;
      std::uint32_t low = 0;
      if (!Hex4(low)) return false;
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
    return true;
  }

  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  std::string Where(std::string_view what) const {
    return "invalid JSON at byte " + std::to_string(pos_) + ": " + std::string(what);
  }
  bool Fail(std::string_view what) {
    if (error_.empty()) error_ = Where(what);
    return false;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

void WriteTo(const Json& value, std::string& out) {
  switch (value.type) {
    case Json::Type::kNull: out += "null"; return;
    case Json::Type::kBool: out += value.boolean ? "true" : "false"; return;
    case Json::Type::kString: out += Quote(value.string); return;
    case Json::Type::kNumber: {
      char text[32];
      if (value.integral) {
        out += std::to_string(value.integer);
      } else {
        std::snprintf(text, sizeof text, "%.17g", value.number);
        out += text;
      }
      return;
    }
    case Json::Type::kArray:
      out += '[';
      for (std::size_t i = 0; i < value.items.size(); ++i) {
        if (i > 0) out += ',';
        WriteTo(value.items[i], out);
      }
      out += ']';
      return;
    case Json::Type::kObject:
      out += '{';
      for (std::size_t i = 0; i < value.members.size(); ++i) {
        if (i > 0) out += ',';
        out += Quote(value.members[i].first);
        out += ':';
        WriteTo(value.members[i].second, out);
      }
      out += '}';
      return;
  }
}

}  // namespace

const Json* Json::Find(std::string_view key) const {
  for (const auto& [name, value] : members) {
    if (name == key) return &value;
  }
  return nullptr;
}

std::string Json::StringOr(std::string_view key, std::string fallback) const {
  const Json* value = Find(key);
  return value != nullptr && value->type == Type::kString ? value->string : fallback;
}

std::int64_t Json::IntOr(std::string_view key, std::int64_t fallback) const {
  const Json* value = Find(key);
  return value != nullptr && value->type == Type::kNumber && value->integral ? value->integer : fallback;
}

const std::vector<Json>& Json::ItemsOf(std::string_view key) const {
  static const std::vector<Json> kNone;
  const Json* value = Find(key);
  return value != nullptr && value->type == Type::kArray ? value->items : kNone;
}

std::string Json::Write() const {
  std::string out;
  WriteTo(*this, out);
  return out;
}

std::expected<Json, std::string> ParseJson(std::string_view text) { return Reader(text).Document(); }

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace sv::ctl::internal
