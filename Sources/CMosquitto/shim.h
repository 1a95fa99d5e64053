#ifndef CMOSQUITTO_SHIM_H
#define CMOSQUITTO_SHIM_H
// libmosquitto (Debian: libmosquitto-dev), the MQTT 3.1.1/5 client library of the Mosquitto
// project, EPL-2.0 or EDL-1.0.
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
