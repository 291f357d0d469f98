// Files watched by content, the one mechanism behind every reload that a
// changed file triggers (configuration, certificates, keys, CA bundles, CRL
// files). A watch costs one stat() per check; the file is read and hashed
// only when stat() says something moved, and it counts as changed only when
// its bytes did (a touch, or a deploy that rewrites the same bytes, is not
// a change). A file that disappears or cannot be read is a change too, so
// the reload that follows reports why.
//
// Not thread-safe; setup and reload code only (it blocks on the disk).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace tlsterm {

// 64-bit FNV-1a of `bytes`: a content fingerprint, not a security hash.
uint64_t content_hash(std::string_view bytes);

class file_watch {
  public:
    // Records the file's state now (before it is read for a build, so that
    // a change during the build is seen at the next check).
    explicit file_watch(std::filesystem::path path);

    // True when the content differs from the recorded one; records the new
    // state either way.
    bool changed();
    const std::filesystem::path& path() const { return _path; }

  private:
    struct state {
        bool readable = false;
        ino_t inode = 0;
        off_t size = -1;
        timespec mtime{};
        uint64_t hash = 0;
    };
    static bool same_stat(const state& a, const struct stat& st);
    state read_state() const;

    std::filesystem::path _path;
    state _state;
};

}  // namespace tlsterm
