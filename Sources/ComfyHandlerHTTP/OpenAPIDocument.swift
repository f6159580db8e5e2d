// Generated from docs/openapi.json (a test checks they are identical). Edit both together.

/// The OpenAPI 3.1 document of the local API, served at `/openapi.json` and committed as docs/openapi.json.
enum OpenAPIDocument {
    static let json = #"""
{
  "components": {
    "schemas": {
      "FileName": {
        "description": "One plain file name: no '/', '\\', '..', leading '.', or control characters.",
        "maxLength": 255,
        "minLength": 1,
        "type": "string"
      },
      "Health": {
        "properties": {
          "jobs": {
            "properties": {
              "completed": {
                "type": "integer"
              },
              "failed": {
                "type": "integer"
              },
              "inProgress": {
                "type": "integer"
              },
              "inQueue": {
                "type": "integer"
              },
              "retried": {
                "type": "integer"
              }
            },
            "type": "object"
          },
          "workers": {
            "properties": {
              "idle": {
                "type": "integer"
              },
              "running": {
                "type": "integer"
              }
            },
            "type": "object"
          }
        },
        "type": "object"
      },
      "JobError": {
        "properties": {
          "class_type": {
            "type": "string"
          },
          "details": {
            "items": {
              "properties": {
                "message": {
                  "type": "string"
                },
                "path": {
                  "type": "string"
                }
              },
              "required": [
                "path",
                "message"
              ],
              "type": "object"
            },
            "type": "array"
          },
          "error": {
            "enum": [
              "validation",
              "drift",
              "execution",
              "timeout",
              "interrupted",
              "crashed",
              "out_of_memory",
              "unavailable",
              "delivery",
              "internal"
            ],
            "type": "string"
          },
          "log_tail": {
            "items": {
              "type": "string"
            },
            "type": "array"
          },
          "message": {
            "type": "string"
          },
          "node_id": {
            "type": "string"
          },
          "retryable": {
            "type": "boolean"
          }
        },
        "required": [
          "error",
          "message",
          "retryable"
        ],
        "type": "object"
      },
      "JobInput": {
        "additionalProperties": false,
        "description": "Exactly one of workflow / workflow_name. worker-comfyui's {workflow, images} input is accepted unchanged.",
        "properties": {
          "images": {
            "items": {
              "additionalProperties": false,
              "properties": {
                "image": {
                  "description": "base64 or a data:<type>;base64, URI",
                  "type": "string"
                },
                "name": {
                  "$ref": "#/components/schemas/FileName"
                },
                "sha256": {
                  "$ref": "#/components/schemas/SHA256"
                }
              },
              "required": [
                "name",
                "image"
              ],
              "type": "object"
            },
            "type": "array"
          },
          "inputs": {
            "items": {
              "additionalProperties": false,
              "properties": {
                "data": {
                  "description": "base64 or a data URI",
                  "type": "string"
                },
                "name": {
                  "$ref": "#/components/schemas/FileName"
                },
                "sha256": {
                  "$ref": "#/components/schemas/SHA256"
                },
                "url": {
                  "description": "http(s); private, loopback and link-local addresses are refused unless the worker allows them",
                  "format": "uri",
                  "type": "string"
                }
              },
              "required": [
                "name"
              ],
              "type": "object"
            },
            "type": "array"
          },
          "output": {
            "additionalProperties": false,
            "properties": {
              "mode": {
                "default": "base64",
                "enum": [
                  "base64",
                  "gcs"
                ],
                "type": "string"
              },
              "prefix": {
                "type": "string"
              },
              "sign_expires": {
                "maximum": 604800,
                "minimum": 1,
                "type": "integer"
              }
            },
            "type": "object"
          },
          "overrides": {
            "additionalProperties": true,
            "description": "\"<node id>.<input name>\": value, applied to the graph before it runs.",
            "type": "object"
          },
          "timeout_s": {
            "exclusiveMinimum": 0,
            "type": "number"
          },
          "workflow": {
            "additionalProperties": {
              "properties": {
                "class_type": {
                  "type": "string"
                },
                "inputs": {
                  "type": "object"
                }
              },
              "required": [
                "class_type"
              ],
              "type": "object"
            },
            "description": "An API-format graph: node id -> {class_type, inputs}. UI-format exports are refused.",
            "type": "object"
          },
          "workflow_name": {
            "description": "A workflow recorded in the worker's lock.",
            "type": "string"
          }
        },
        "type": "object"
      },
      "JobOutput": {
        "properties": {
          "environment": {
            "properties": {
              "comfyui_commit": {
                "type": [
                  "string",
                  "null"
                ]
              },
              "handler_version": {
                "type": "string"
              },
              "version_digest": {
                "type": [
                  "string",
                  "null"
                ]
              }
            },
            "required": [
              "comfyui_commit",
              "version_digest",
              "handler_version"
            ],
            "type": "object"
          },
          "lock_digest": {
            "description": "null only when attached to a ComfyUI without a lock",
            "type": [
              "string",
              "null"
            ]
          },
          "outputs": {
            "items": {
              "$ref": "#/components/schemas/Output"
            },
            "type": "array"
          },
          "peak_memory": {
            "type": [
              "integer",
              "null"
            ]
          },
          "prompt_id": {
            "type": "string"
          },
          "timings": {
            "properties": {
              "queue_ms": {
                "type": "integer"
              },
              "run_ms": {
                "type": "integer"
              },
              "total_ms": {
                "type": "integer"
              },
              "upload_ms": {
                "type": "integer"
              }
            },
            "required": [
              "queue_ms",
              "run_ms",
              "upload_ms",
              "total_ms"
            ],
            "type": "object"
          }
        },
        "required": [
          "outputs",
          "prompt_id",
          "lock_digest",
          "environment",
          "timings",
          "peak_memory"
        ],
        "type": "object"
      },
      "JobRequest": {
        "properties": {
          "input": {
            "$ref": "#/components/schemas/JobInput"
          }
        },
        "required": [
          "input"
        ],
        "type": "object"
      },
      "JobStatus": {
        "properties": {
          "delayTime": {
            "type": "integer"
          },
          "error": {
            "description": "JSON text of a JobError",
            "type": "string"
          },
          "executionTime": {
            "type": "integer"
          },
          "id": {
            "type": "string"
          },
          "output": {
            "$ref": "#/components/schemas/JobOutput"
          },
          "status": {
            "enum": [
              "IN_QUEUE",
              "IN_PROGRESS",
              "COMPLETED",
              "FAILED",
              "CANCELLED",
              "TIMED_OUT"
            ],
            "type": "string"
          }
        },
        "required": [
          "id",
          "status"
        ],
        "type": "object"
      },
      "Output": {
        "properties": {
          "class_type": {
            "type": "string"
          },
          "data": {
            "description": "base64 (mode base64)",
            "type": "string"
          },
          "filename": {
            "type": [
              "string",
              "null"
            ]
          },
          "gcs_uri": {
            "description": "gs://bucket/<prefix>/<job id>/<node id>/<filename> (mode gcs)",
            "type": "string"
          },
          "kind": {
            "enum": [
              "image",
              "video",
              "audio",
              "text",
              "file"
            ],
            "type": "string"
          },
          "media_type": {
            "type": "string"
          },
          "node_id": {
            "type": "string"
          },
          "sha256": {
            "$ref": "#/components/schemas/SHA256"
          },
          "size": {
            "type": "integer"
          },
          "text": {
            "description": "text outputs",
            "type": "string"
          },
          "url": {
            "description": "V4 signed URL (mode gcs)",
            "type": [
              "string",
              "null"
            ]
          }
        },
        "required": [
          "node_id",
          "class_type",
          "kind",
          "filename",
          "media_type",
          "size",
          "sha256"
        ],
        "type": "object"
      },
      "PlainError": {
        "properties": {
          "error": {
            "type": "string"
          }
        },
        "required": [
          "error"
        ],
        "type": "object"
      },
      "Ready": {
        "properties": {
          "ready": {
            "type": "boolean"
          },
          "reasons": {
            "items": {
              "type": "string"
            },
            "type": "array"
          }
        },
        "required": [
          "ready",
          "reasons"
        ],
        "type": "object"
      },
      "SHA256": {
        "pattern": "^[0-9a-fA-F]{64}$",
        "type": "string"
      }
    }
  },
  "info": {
    "description": "The ComfyLock worker's local HTTP API in RunPod's shapes (the SDK's local API plus the hosted API's routes). A job's `error` member is the JSON text of a JobError, as RunPod's hosted API carries errors as strings.",
    "title": "comfy-handler local API",
    "version": "0.2.0"
  },
  "openapi": "3.1.0",
  "paths": {
    "/cancel/{id}": {
      "parameters": [
        {
          "in": "path",
          "name": "id",
          "required": true,
          "schema": {
            "type": "string"
          }
        }
      ],
      "post": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/JobStatus"
                }
              }
            },
            "description": "The job's state."
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/PlainError"
                }
              }
            },
            "description": "Unknown id."
          }
        },
        "summary": "Cancel a job: its prompt is interrupted and no result is kept."
      }
    },
    "/health": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            },
            "description": "Counters."
          }
        },
        "summary": "The process is alive; job and worker counters."
      }
    },
    "/openapi.json": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "application/json": {}
            },
            "description": "OpenAPI 3.1."
          }
        },
        "summary": "This document."
      }
    },
    "/ready": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Ready"
                }
              }
            },
            "description": "Ready."
          },
          "503": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Ready"
                }
              }
            },
            "description": "Not ready, with the reasons."
          }
        },
        "summary": "Ready to take jobs: lock applied, ComfyUI up, warm, backlog below its limit."
      }
    },
    "/run": {
      "post": {
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/JobRequest"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/JobStatus"
                }
              }
            },
            "description": "The queued job."
          },
          "400": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/PlainError"
                }
              }
            },
            "description": "The body is not a JSON object."
          },
          "413": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/PlainError"
                }
              }
            },
            "description": "The body is over 10 MB."
          }
        },
        "summary": "Queue a job."
      }
    },
    "/runsync": {
      "post": {
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/JobRequest"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/JobStatus"
                }
              }
            },
            "description": "The finished job."
          },
          "400": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/PlainError"
                }
              }
            },
            "description": "The body is not a JSON object."
          },
          "413": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/PlainError"
                }
              }
            },
            "description": "The body is over 20 MB."
          }
        },
        "summary": "Run a job and wait for its result."
      }
    },
    "/status/{id}": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/JobStatus"
                }
              }
            },
            "description": "The job."
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/PlainError"
                }
              }
            },
            "description": "Unknown id."
          }
        },
        "summary": "A job's status."
      },
      "parameters": [
        {
          "in": "path",
          "name": "id",
          "required": true,
          "schema": {
            "type": "string"
          }
        }
      ],
      "post": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/JobStatus"
                }
              }
            },
            "description": "The job."
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/PlainError"
                }
              }
            },
            "description": "Unknown id."
          }
        },
        "summary": "A job's status (the SDK's local API uses POST)."
      }
    }
  },
  "servers": [
    {
      "url": "http://127.0.0.1:8000"
    }
  ]
}
"""#
}
