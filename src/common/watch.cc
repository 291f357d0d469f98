#include "common/watch.h"

#include "common/file.h"

namespace tlsterm {

uint64_t content_hash(std::string_view bytes) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : bytes) {
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    }
    return h;
}

file_watch::file_watch(std::filesystem::path path) : _path(std::move(path)) {
    _state = read_state();
}

bool file_watch::same_stat(const state& a, const struct stat& st) {
    return a.readable && a.inode == st.st_ino && a.size == st.st_size &&
           a.mtime.tv_sec == st.st_mtim.tv_sec && a.mtime.tv_nsec == st.st_mtim.tv_nsec;
}

file_watch::state file_watch::read_state() const {
    state s;
    struct stat st {};
    if (::stat(_path.c_str(), &st) != 0) {
        return s;
    }
    s.inode = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
    auto bytes = read_file(_path);
    if (bytes) {
        s.readable = true;
        s.hash = content_hash(*bytes);
    }
    return s;
}

bool file_watch::changed() {
    struct stat st {};
    bool present = ::stat(_path.c_str(), &st) == 0;
    if (present && same_stat(_state, st)) {
        return false;
    }
    if (!present && !_state.readable) {
        return false;
    }
    state now = read_state();
    bool differs = now.readable != _state.readable || now.hash != _state.hash;
    _state = now;
    return differs;
}

}  // namespace tlsterm
