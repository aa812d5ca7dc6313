#!/bin/sh
# Entry point of the Meeting SDK image: the SDK needs an audio server even though the bot
# never records or plays sound. Start PulseAudio as this (unprivileged) user with a null sink,
# route ALSA to it, tell the SDK to use the default audio device, then exec the command.
set -eu
mkdir -p "$PULSE_RUNTIME_PATH" "$HOME/.config"
printf '[General]\nsystem.audio.type=default\n' > "$HOME/.config/zoomus.conf"
printf 'pcm.!default { type pulse }\nctl.!default { type pulse }\n' > "$HOME/.asoundrc"
# -n: no default.pa, so exactly these modules load (no hardware probing).
pulseaudio -D -n --exit-idle-time=-1 --disallow-exit \
    --load="module-native-protocol-unix" \
    --load="module-null-sink sink_name=auto_null" \
    --load="module-always-sink"
pactl set-default-sink auto_null >/dev/null 2>&1 || true
exec "$@"
