#include "registry/auth.hpp"

#include "util/error.hpp"
#include "util/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace strata::registry {

namespace {

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

// A cursor over the header; every reader skips leading blanks.
class HeaderReader {
public:
    explicit HeaderReader(std::string_view text) : text_(text) {}

    bool at_end() {
        skip_blanks();
        return pos_ >= text_.size();
    }
    bool consume(char c) {
        skip_blanks();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    char peek() {
        skip_blanks();
        return pos_ < text_.size() ? text_[pos_] : '\0';
    }
    std::string token() {
        skip_blanks();
        const std::size_t start = pos_;
        while (pos_ < text_.size() && is_token_char(text_[pos_])) ++pos_;
        return std::string(text_.substr(start, pos_ - start));
    }
    std::string quoted() {
        std::string out;
        ++pos_;  // the opening quote
        while (pos_ < text_.size() && text_[pos_] != '"') {
            if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
            out += text_[pos_++];
        }
        if (pos_ < text_.size()) ++pos_;  // the closing quote
        return out;
    }
    // Whether what follows is `name=` (a parameter) rather than a new scheme.
    bool parameter_follows() {
        skip_blanks();
        std::size_t p = pos_;
        while (p < text_.size() && is_token_char(text_[p])) ++p;
        while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t')) ++p;
        return p > pos_ && p < text_.size() && text_[p] == '=';
    }
    void skip_past_comma() {
        while (pos_ < text_.size() && text_[pos_] != ',') ++pos_;
        if (pos_ < text_.size()) ++pos_;
    }

private:
    void skip_blanks() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
    }
    std::string_view text_;
    std::size_t pos_ = 0;
};

// One `name=value` or `name="value"` into the challenge; false when the text is not one.
bool read_parameter(HeaderReader& reader, Challenge& challenge) {
    if (!reader.parameter_follows()) return false;
    const std::string name = ascii_lower(reader.token());
    if (!reader.consume('=')) return false;
    const std::string value = reader.peek() == '"' ? reader.quoted() : reader.token();
    challenge.params[name] = value;
    return true;
}

constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace

std::string Challenge::param(const std::string& name) const {
    const auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
}

std::vector<Challenge> parse_www_authenticate(std::string_view header) {
    std::vector<Challenge> challenges;
    HeaderReader reader(header);
    while (!reader.at_end()) {
        if (reader.consume(',')) continue;
        const std::string scheme = reader.token();
        if (scheme.empty()) {
            reader.skip_past_comma();
            continue;
        }
        Challenge challenge{ascii_lower(scheme), {}};
        // Parameters, comma-separated, until the text ends or the next scheme starts.
        bool any = false;
        while (read_parameter(reader, challenge)) {
            any = true;
            if (!reader.consume(',')) break;
        }
        if (!any && !reader.at_end() && reader.peek() != ',') reader.skip_past_comma();  // a token68: ignored
        challenges.push_back(std::move(challenge));
    }
    return challenges;
}

std::string repository_scope(std::string_view repository, bool push) {
    return "repository:" + std::string(repository) + (push ? ":pull,push" : ":pull");
}

Token parse_token_response(std::string_view body, std::chrono::steady_clock::time_point now) {
    const auto doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) throw Error("the token service's answer is not a JSON object");
    Token token;
    for (const char* key : {"token", "access_token"}) {
        const auto it = doc.find(key);
        if (it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
            token.value = it->get<std::string>();
            break;
        }
    }
    if (token.value.empty()) throw Error("the token service's answer holds no token");
    long long seconds = 60;
    if (const auto it = doc.find("expires_in"); it != doc.end() && it->is_number_integer())
        seconds = std::max(it->get<long long>(), 60LL);
    token.expires = now + std::chrono::seconds(seconds);
    return token;
}

std::string basic_authorization(std::string_view username, std::string_view password) {
    return "Basic " + base64_encode(std::string(username) + ":" + std::string(password));
}

std::string base64_encode(std::string_view data) {
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        const unsigned n = static_cast<unsigned char>(data[i]) << 16 | static_cast<unsigned char>(data[i + 1]) << 8 |
                           static_cast<unsigned char>(data[i + 2]);
        for (int shift : {18, 12, 6, 0}) out += base64_alphabet[(n >> shift) & 63];
    }
    if (i + 1 == data.size()) {
        const unsigned n = static_cast<unsigned char>(data[i]) << 16;
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == data.size()) {
        const unsigned n = static_cast<unsigned char>(data[i]) << 16 | static_cast<unsigned char>(data[i + 1]) << 8;
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += base64_alphabet[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    std::size_t padding = 0;
    for (const char c : text) {
        if (c == '=') {
            ++padding;
            continue;
        }
        if (padding > 0) return std::nullopt;  // data after padding
        const char* found = std::char_traits<char>::find(base64_alphabet, 64, c);
        if (!found) return std::nullopt;
        buffer = (buffer << 6) | static_cast<unsigned>(found - base64_alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    if (padding > 2) return std::nullopt;
    return out;
}

} // namespace strata::registry
