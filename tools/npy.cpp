// dcn_npy: NumPy .npy reader / writer for little-endian floating arrays (npy.h), C order.
//
// Format (numpy.lib.format): the magic "\x93NUMPY", a major and a minor
// version byte, the header length (2 bytes little-endian in version 1.0,
// 4 bytes in 2.0 and 3.0), then the header: a Python dict literal with the
// keys 'descr', 'fortran_order' and 'shape', padded with spaces and ended by
// '\n'. The raw array data follows.
#include <algorithm>
#include "npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace dcn_npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// Far more than any float32 array needs (numpy itself refuses headers over
// 10000 bytes unless told otherwise); protects against absurd lengths.
constexpr uint64_t kMaxHeaderLen = 1u << 20;
constexpr size_t kMaxRank = 64;  // numpy's NPY_MAXDIMS
// numpy pads the header so that the first axis can grow in place.
constexpr size_t kGrowthAxisMaxDigits = 21;

[[noreturn]] void fail(const std::string &name, const std::string &what) {
    throw std::runtime_error(name + ": " + what);
}

bool host_is_little_endian() {
    const uint32_t one = 1;
    unsigned char b;
    std::memcpy(&b, &one, 1);
    return b == 1;
}

std::string printable(const std::string &s, size_t max_len = 40) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < max_len; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    if (s.size() > max_len) out += "...";
    return out;
}

// A human description of a numpy dtype string such as '<f8' or '>i4'.
std::string describe_descr(const std::string &descr) {
    if (descr.size() < 2) return "unknown dtype";
    const char order = descr[0];
    const char kind = descr[1];
    const std::string size_str = descr.substr(2);
    int size = 0;
    bool size_ok = !size_str.empty() && size_str.size() <= 4;
    for (char c : size_str) {
        if (c < '0' || c > '9') size_ok = false;
    }
    if (size_ok) size = std::stoi(size_str);
    const std::string bits = size_ok ? std::to_string(size * 8) : std::string("?");
    std::string name;
    switch (kind) {
        case 'f': name = size == 16 ? std::string("float128/longdouble") : "float" + bits; break;
        case 'i': name = "int" + bits; break;
        case 'u': name = "uint" + bits; break;
        case 'b': name = "bool"; break;
        case 'c': name = "complex" + bits; break;
        case 'U': name = "unicode string"; break;
        case 'S': case 'a': name = "byte string"; break;
        case 'O': name = "Python object"; break;
        case 'M': name = "datetime64"; break;
        case 'm': name = "timedelta64"; break;
        case 'V': name = "void/raw bytes"; break;
        default: return "unknown dtype";
    }
    if (order == '>') name += ", big-endian";
    else if (order == '=') name += ", native byte order";
    else if (order != '<' && order != '|') return "unknown dtype";
    return name;
}

// ---- header dict parser -------------------------------------------------
// Just enough of Python's literal syntax for a .npy header: a dict with
// string keys whose values are strings, True/False, or tuples of integers.

struct HeaderParser {
    const std::string &s;
    const std::string &name;
    size_t i = 0;

    [[noreturn]] void bad(const std::string &what) const {
        fail(name, "malformed .npy header (" + what + "): '" + printable(s, 120) + "'");
    }
    void skip_ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    }
    bool peek(char c) {
        skip_ws();
        return i < s.size() && s[i] == c;
    }
    void expect(char c) {
        skip_ws();
        if (i >= s.size() || s[i] != c) bad(std::string("expected '") + c + "'");
        ++i;
    }
    std::string string_literal() {
        skip_ws();
        if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) bad("expected a string");
        const char q = s[i++];
        std::string out;
        while (i < s.size() && s[i] != q) {
            if (s[i] == '\\') bad("escape sequences are not supported");
            out += s[i++];
        }
        if (i >= s.size()) bad("unterminated string");
        ++i;
        return out;
    }
    bool is_ident_char(char c) const {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    }
    std::string identifier() {
        skip_ws();
        const size_t start = i;
        while (i < s.size() && is_ident_char(s[i])) ++i;
        return s.substr(start, i - start);
    }
    bool boolean() {
        const std::string id = identifier();
        if (id == "True") return true;
        if (id == "False") return false;
        bad("expected True or False");
    }
    int64_t dimension() {
        skip_ws();
        if (i < s.size() && s[i] == '-') fail(name, "negative dimension in shape");
        if (i >= s.size() || s[i] < '0' || s[i] > '9') bad("expected an integer dimension");
        int64_t v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            const int d = s[i] - '0';
            if (v > (std::numeric_limits<int64_t>::max() - d) / 10) fail(name, "dimension in shape is too large");
            v = v * 10 + d;
            ++i;
        }
        if (i < s.size() && (s[i] == 'L' || s[i] == 'l')) ++i;  // Python 2 long
        return v;
    }
    std::vector<int64_t> shape_tuple() {
        skip_ws();
        if (i >= s.size() || (s[i] != '(' && s[i] != '[')) bad("shape is not a tuple");
        const char close = s[i] == '(' ? ')' : ']';
        ++i;
        std::vector<int64_t> shape;
        while (true) {
            if (peek(close)) { ++i; break; }
            shape.push_back(dimension());
            if (shape.size() > kMaxRank) fail(name, "shape has more than 64 dimensions");
            if (peek(',')) { ++i; continue; }
            expect(close);
            break;
        }
        return shape;
    }
};

struct Header {
    std::vector<int64_t> shape;
    dcn::DType dtype = dcn::DType::float32;
};

// Every dtype of the list, for the descr <-> dtype mapping.
constexpr dcn::DType kDtypes[] = {
#define DCN_DTYPE(name, ctype) dcn::DType::name,
#include "dcn/lists.inc"
#undef DCN_DTYPE
};

std::string expected_descrs() {
    std::string e;
    for (dcn::DType t : kDtypes)
        e += std::string(e.empty() ? "" : ", ") + "'" + npy_descr(t) + "' (" + dcn::dtype_name(t) + ")";
    return e;
}

Header parse_header_dict(const std::string &text, const std::string &name) {
    HeaderParser p{text, name};
    p.expect('{');
    bool have_descr = false, have_order = false, have_shape = false;
    std::string descr;
    bool fortran = false;
    Header h;
    while (true) {
        if (p.peek('}')) { ++p.i; break; }
        const std::string key = p.string_literal();
        p.expect(':');
        if (key == "descr") {
            if (p.peek('['))
                fail(name, "structured dtype (record array) is not supported, expected " + expected_descrs());
            descr = p.string_literal();
            have_descr = true;
        } else if (key == "fortran_order") {
            fortran = p.boolean();
            have_order = true;
        } else if (key == "shape") {
            h.shape = p.shape_tuple();
            have_shape = true;
        } else {
            p.bad("unexpected key '" + printable(key) + "'");
        }
        if (p.peek(',')) { ++p.i; continue; }
        p.expect('}');
        break;
    }
    p.skip_ws();
    if (p.i != text.size()) p.bad("unexpected text after the dict");
    if (!have_descr) p.bad("no 'descr' key");
    if (!have_order) p.bad("no 'fortran_order' key");
    if (!have_shape) p.bad("no 'shape' key");
    bool known = false;
    for (dcn::DType t : kDtypes)
        if (descr == npy_descr(t)) {
            h.dtype = t;
            known = true;
        }
    if (!known) fail(name, "dtype '" + printable(descr) + "' (" + describe_descr(descr) + "), expected " + expected_descrs());
    if (fortran) fail(name, "fortran_order arrays are not supported (expected C order)");
    return h;
}

struct Preamble {
    int major = 0, minor = 0;
    uint64_t header_offset = 0;  // where the header text starts
    uint64_t header_len = 0;
};

// Parses the fixed-size start of the file. `got` bytes of `buf` are valid;
// `file_size` is the total size.
Preamble parse_preamble(const unsigned char *buf, size_t got, uint64_t file_size,
                        const std::string &name) {
    if (got < kMagicLen || std::memcmp(buf, kMagic, kMagicLen) != 0) {
        if (file_size == 0) fail(name, "not a .npy file (empty file)");
        fail(name, "not a .npy file (bad magic)");
    }
    if (got < kMagicLen + 2) fail(name, "truncated: file ends inside the .npy preamble");
    Preamble p;
    p.major = buf[6];
    p.minor = buf[7];
    if (!((p.major == 1 || p.major == 2 || p.major == 3) && p.minor == 0)) {
        fail(name, "unsupported .npy format version " + std::to_string(p.major) + "." +
                       std::to_string(p.minor) + " (supported: 1.0, 2.0, 3.0)");
    }
    if (p.major == 1) {
        if (got < 10) fail(name, "truncated: file ends inside the .npy preamble");
        p.header_len = uint64_t(buf[8]) | (uint64_t(buf[9]) << 8);
        p.header_offset = 10;
    } else {
        if (got < 12) fail(name, "truncated: file ends inside the .npy preamble");
        p.header_len = uint64_t(buf[8]) | (uint64_t(buf[9]) << 8) | (uint64_t(buf[10]) << 16) |
                       (uint64_t(buf[11]) << 24);
        p.header_offset = 12;
    }
    if (p.header_len > kMaxHeaderLen) {
        fail(name, "header length " + std::to_string(p.header_len) + " bytes is absurd (limit " +
                       std::to_string(kMaxHeaderLen) + ")");
    }
    if (p.header_offset + p.header_len > file_size) {
        fail(name, "truncated: header length is " + std::to_string(p.header_len) + " bytes, file has " +
                       std::to_string(file_size - p.header_offset) + " bytes after the preamble");
    }
    return p;
}

// Number of elements of the shape; throws if the byte count would overflow.
int64_t checked_numel(const std::vector<int64_t> &shape, const std::string &name) {
    const int64_t limit = std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(double));
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d == 0) return 0;
    }
    for (int64_t d : shape) {
        if (d < 0) fail(name, "negative dimension in shape");
        if (n > limit / d) fail(name, "shape " + shape_string(shape) + " is too large (element count overflows)");
        n *= d;
    }
    return n;
}

// Checks the header text, returns the shape and element count, and checks
// the amount of data that follows.
Header check_header_and_size(const std::string &header_text, uint64_t data_bytes, int64_t *numel,
                             const std::string &name) {
    Header h = parse_header_dict(header_text, name);
    const int64_t n = checked_numel(h.shape, name);
    const uint64_t need = static_cast<uint64_t>(n) * dcn::dtype_size(h.dtype);
    const std::string what = "header says " + shape_string(h.shape) + " = " + std::to_string(n) + " " +
                             dcn::dtype_name(h.dtype) + " elements (" + std::to_string(need) + " bytes), file has " +
                             std::to_string(data_bytes) + " bytes of data";
    if (data_bytes < need) fail(name, "truncated: " + what);
    if (data_bytes > need) fail(name, "trailing bytes: " + what);
    *numel = n;
    return h;
}

// Sizes the array's storage for its dtype; returns where the bytes go.
char *allocate(Array &a, const Header &h, int64_t n) {
    a.shape = h.shape;
    a.dtype = h.dtype;
    a.bytes.resize(static_cast<size_t>(n) * a.element_size());
    return reinterpret_cast<char *>(a.bytes.data());
}

// Reverses the bytes of each element of `size` bytes.
void byteswap_elements(unsigned char *p, size_t count, size_t size) {
    for (size_t i = 0; i < count; ++i) std::reverse(p + i * size, p + (i + 1) * size);
}

void finish_data(Array &a) {
    if (host_is_little_endian()) return;
    byteswap_elements(a.bytes.data(), static_cast<size_t>(a.numel()), a.element_size());
}

}  // namespace

const char *npy_descr(dcn::DType t) {
    switch (t) {
    case dcn::DType::float32: return "<f4";
    case dcn::DType::float64: return "<f8";
    case dcn::DType::float16: return "<f2";
    case dcn::DType::bfloat16: return "<V2";
    }
    return "?";
}

int64_t Array::numel() const {
    // A shape with a 0 holds no elements, however large its other
    // dimensions (the parser allows that, as numpy does): no product, which
    // could overflow before it reached the 0. Otherwise the parser has
    // checked that the product fits (checked_numel).
    for (int64_t d : shape)
        if (d == 0) return 0;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string Array::dtype_str() const { return std::string("'") + npy_descr(dtype) + "' (" + dcn::dtype_name(dtype) + ")"; }

std::vector<double> Array::values() const {
    const size_t n = static_cast<size_t>(numel());
    std::vector<double> v(n);
    if (bytes.size() < n * element_size()) return v;
    dcn::visit_dtype(dtype, [&](auto t) {
        const auto *data = data_as<decltype(t)>();
        for (size_t i = 0; i < n; ++i) v[i] = dcn::element_to_double(data[i]);
    });
    return v;
}

std::string shape_string(const std::vector<int64_t> &shape) {
    if (shape.empty()) return "()";
    std::string s;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += 'x';
        s += std::to_string(shape[i]);
    }
    return s;
}

Array parse_npy(const std::string &bytes, const std::string &name) {
    const auto *buf = reinterpret_cast<const unsigned char *>(bytes.data());
    const Preamble pre = parse_preamble(buf, bytes.size() < 12 ? bytes.size() : 12, bytes.size(), name);
    const std::string header = bytes.substr(pre.header_offset, pre.header_len);
    const uint64_t data_start = pre.header_offset + pre.header_len;
    int64_t n = 0;
    Array a;
    const Header h = check_header_and_size(header, bytes.size() - data_start, &n, name);
    char *dst = allocate(a, h, n);
    if (n > 0) std::memcpy(dst, bytes.data() + data_start, static_cast<size_t>(n) * a.element_size());
    finish_data(a);
    return a;
}

namespace {

Array read_file(const std::string &path, bool with_data) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail(path, "cannot read: is a directory");
    // A FIFO, socket or device would block or never end: only regular files.
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
        fail(path, "cannot read: not a regular file");
    errno = 0;
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        const int e = errno;
        fail(path, std::string("cannot open: ") + (e ? std::strerror(e) : "unknown error"));
    }
    f.seekg(0, std::ios::end);
    const std::streamoff end = f.tellg();
    if (end < 0) fail(path, "cannot determine the file size");
    const uint64_t file_size = static_cast<uint64_t>(end);
    f.seekg(0, std::ios::beg);

    unsigned char pre_buf[12] = {};
    const size_t want = file_size < 12 ? static_cast<size_t>(file_size) : 12;
    f.read(reinterpret_cast<char *>(pre_buf), static_cast<std::streamsize>(want));
    if (static_cast<size_t>(f.gcount()) != want) fail(path, "read error");
    const Preamble pre = parse_preamble(pre_buf, want, file_size, path);

    std::string header(static_cast<size_t>(pre.header_len), '\0');
    f.seekg(static_cast<std::streamoff>(pre.header_offset), std::ios::beg);
    f.read(&header[0], static_cast<std::streamsize>(header.size()));
    if (static_cast<size_t>(f.gcount()) != header.size()) fail(path, "read error in the header");

    const uint64_t data_start = pre.header_offset + pre.header_len;
    int64_t n = 0;
    Array a;
    const Header h = check_header_and_size(header, file_size - data_start, &n, path);
    if (!with_data) {
        a.shape = h.shape;
        a.dtype = h.dtype;
        return a;
    }
    char *dst = allocate(a, h, n);
    if (n > 0) {
        const auto bytes = static_cast<std::streamsize>(n * static_cast<int64_t>(a.element_size()));
        f.read(dst, bytes);
        if (f.gcount() != bytes) fail(path, "read error in the data");
    }
    finish_data(a);
    return a;
}

}  // namespace

Array read_npy(const std::string &path) { return read_file(path, true); }

Array read_npy_header(const std::string &path) { return read_file(path, false); }

namespace {

void write_npy_bytes(const std::string &path, const std::vector<int64_t> &shape, dcn::DType dtype,
                     const unsigned char *data, size_t count) {
    const size_t size = dcn::dtype_size(dtype);
    for (int64_t d : shape) {
        if (d < 0) fail(path, "cannot write: negative dimension in shape " + shape_string(shape));
    }
    const int64_t n = checked_numel(shape, path);
    if (static_cast<uint64_t>(n) != count) {
        fail(path, "cannot write: shape " + shape_string(shape) + " has " + std::to_string(n) +
                       " elements but " + std::to_string(count) + " were given");
    }
    if (count > 0 && data == nullptr) fail(path, "cannot write: null data");

    // Header as numpy.save writes it.
    std::string dict = std::string("{'descr': '") + npy_descr(dtype) + "', 'fortran_order': False, 'shape': (";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) dict += ", ";
        dict += std::to_string(shape[i]);
    }
    if (shape.size() == 1) dict += ",";
    dict += "), }";
    if (!shape.empty()) {
        const size_t digits = std::to_string(shape[0]).size();
        if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
    }
    size_t prefix = 10;  // magic + version + 2-byte length
    int major = 1;
    size_t hlen = dict.size() + 1;  // + '\n'
    size_t pad = 64 - (prefix + hlen) % 64;
    if (hlen + pad > 65535) {  // cannot happen for rank <= 64, kept for safety
        major = 2;
        prefix = 12;
        pad = 64 - (prefix + hlen) % 64;
    }
    const size_t total_hlen = hlen + pad;
    std::string out(kMagic, kMagicLen);
    out += static_cast<char>(major);
    out += '\0';
    for (size_t b = 0; b < prefix - 8; ++b) out += static_cast<char>((total_hlen >> (8 * b)) & 0xff);
    out += dict;
    out.append(pad, ' ');
    out += '\n';

    errno = 0;
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) {
        const int e = errno;
        fail(path, std::string("cannot write: ") + (e ? std::strerror(e) : "cannot open for writing"));
    }
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (count > 0) {
        if (host_is_little_endian()) {
            f.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(count * size));
        } else {
            std::vector<unsigned char> tmp(data, data + count * size);
            byteswap_elements(tmp.data(), count, size);
            f.write(reinterpret_cast<const char *>(tmp.data()), static_cast<std::streamsize>(count * size));
        }
    }
    f.close();
    if (!f) {
        const int e = errno;
        fail(path, std::string("write error: ") + (e ? std::strerror(e) : "unknown error"));
    }
}

}  // namespace

void write_npy(const std::string &path, const std::vector<int64_t> &shape, dcn::DType dtype, const void *data,
               size_t count) {
    write_npy_bytes(path, shape, dtype, static_cast<const unsigned char *>(data), count);
}

void write_npy(const std::string &path, const Array &array) {
    write_npy_bytes(path, array.shape, array.dtype, array.bytes.data(), array.bytes.size() / array.element_size());
}

}  // namespace dcn_npy
