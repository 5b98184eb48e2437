package cmd

import "go.uber.org/zap/zapcore"

const (
	zapLevelDebug = zapcore.DebugLevel
	zapLevelPanic = zapcore.PanicLevel
	zapLevelError = zapcore.ErrorLevel
)
