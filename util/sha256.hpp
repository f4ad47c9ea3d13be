#pragma once
// Streaming SHA-256 over OpenSSL EVP (SHA-NI where the CPU has it).
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace strata {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;

    void update(const void* data, std::size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // Finishes the hash: 64 lower-case hex digits. The object must not be updated afterwards.
    std::string hex();
    // "sha256:" + hex()
    std::string digest() { return "sha256:" + hex(); }

private:
    struct Deleter {
        void operator()(evp_md_ctx_st* ctx) const noexcept;
    };
    std::unique_ptr<evp_md_ctx_st, Deleter> ctx_;
};

std::string sha256_hex(std::string_view data);
inline std::string sha256_digest(std::string_view data) { return "sha256:" + sha256_hex(data); }

// True for "sha256:" followed by exactly 64 lower-case hex digits.
bool is_sha256_digest(std::string_view digest);

} // namespace strata
