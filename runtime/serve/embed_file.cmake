# Turns a file into a C++ source defining it as a byte array, at build time:
#   cmake -DINPUT=page.html -DOUTPUT=page_data.cc -DSYMBOL=kChatPage -P embed_file.cmake
# defines `extern const unsigned char SYMBOL[]` (the bytes, then a 0) and
# `extern const unsigned long SYMBOL_size` in namespace lmc::serve. Written to a temporary
# file and renamed, so an interrupted build never leaves half a source.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes a line.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n  " bytes "${bytes}")
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${name} by runtime/serve/embed_file.cmake: do not edit.\n"
  "namespace lmc::serve {\n"
  "extern const unsigned char ${SYMBOL}[];\n"
  "extern const unsigned long ${SYMBOL}_size;\n"
  "const unsigned char ${SYMBOL}[] = {\n  ${bytes}0x00};\n"
  "const unsigned long ${SYMBOL}_size = ${size};\n"
  "}  // namespace lmc::serve\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
