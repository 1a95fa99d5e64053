// libmosquitto for the benchmark's own publisher (mosquitto_pub -l stalls on large bursts: it
// blocks writing while the broker waits for it to read its PUBACKs).
#include <mosquitto.h>
