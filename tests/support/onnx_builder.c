/* tests: in-memory ONNX model builder. */
#include "onnx_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#define MAX_ITEMS 256

/* Test-only builder: a model beyond the fixed tables is a bug in the test. */
static void room(size_t used) {
  if (used >= MAX_ITEMS) {
    fprintf(stderr, "onnx_builder: more than %d items in one table\n", MAX_ITEMS);
    abort();
  }
}

struct tb_node {
  Onnx__NodeProto pb;
  Onnx__AttributeProto *attrs[MAX_ITEMS];
};

struct tb_model {
  Onnx__ModelProto pb;
  Onnx__GraphProto graph;
  Onnx__OperatorSetIdProto opset;
  Onnx__OperatorSetIdProto *opsets[1];
  Onnx__ValueInfoProto *inputs[MAX_ITEMS], *outputs[MAX_ITEMS];
  Onnx__TensorProto *inits[MAX_ITEMS];
  Onnx__NodeProto *nodes[MAX_ITEMS];
  void *owned[8192];
  int n_owned;
};

static void *own(tb_model *m, void *p) {
  if (!p || m->n_owned == 8192) abort();
  m->owned[m->n_owned++] = p;
  return p;
}
static void *zalloc(tb_model *m, size_t n) { return own(m, calloc(1, n ? n : 1)); }
static char *sdup(tb_model *m, const char *s) { return own(m, strdup(s)); }

tb_model *tb_new(int opset) {
  tb_model *m = calloc(1, sizeof *m);
  if (!m) abort();
  onnx__model_proto__init(&m->pb);
  onnx__graph_proto__init(&m->graph);
  onnx__operator_set_id_proto__init(&m->opset);
  m->pb.has_ir_version = 1;
  m->pb.ir_version = 7;
  m->opset.domain = "";
  m->opset.has_version = 1;
  m->opset.version = opset;
  m->opsets[0] = &m->opset;
  m->pb.n_opset_import = 1;
  m->pb.opset_import = m->opsets;
  m->graph.name = "test";
  m->pb.graph = &m->graph;
  m->graph.input = m->inputs;
  m->graph.output = m->outputs;
  m->graph.initializer = m->inits;
  m->graph.node = m->nodes;
  return m;
}

static Onnx__ValueInfoProto *value_info(tb_model *m, const char *name, int dtype, int ndim, const int64_t *dims) {
  Onnx__ValueInfoProto *vi = zalloc(m, sizeof *vi);
  onnx__value_info_proto__init(vi);
  vi->name = sdup(m, name);
  if (dtype == 0) return vi;
  Onnx__TypeProto *tp = zalloc(m, sizeof *tp);
  onnx__type_proto__init(tp);
  Onnx__TypeProto__Tensor *tt = zalloc(m, sizeof *tt);
  onnx__type_proto__tensor__init(tt);
  tt->has_elem_type = 1;
  tt->elem_type = dtype;
  Onnx__TensorShapeProto *sh = zalloc(m, sizeof *sh);
  onnx__tensor_shape_proto__init(sh);
  sh->n_dim = (size_t)ndim;
  sh->dim = zalloc(m, sizeof(void *) * (size_t)(ndim + 1));
  for (int i = 0; i < ndim; i++) {
    Onnx__TensorShapeProto__Dimension *d = zalloc(m, sizeof *d);
    onnx__tensor_shape_proto__dimension__init(d);
    if (dims[i] >= 0) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = dims[i];
    } else {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = sdup(m, "N");
    }
    sh->dim[i] = d;
  }
  tt->shape = sh;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  vi->type = tp;
  return vi;
}

void tb_dim_name(tb_model *m, size_t input, size_t d, const char *name) {
  if (input >= m->graph.n_input) abort();
  Onnx__TensorShapeProto *sh = m->inputs[input]->type->tensor_type->shape;
  if (d >= sh->n_dim || sh->dim[d]->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) abort();
  sh->dim[d]->dim_param = sdup(m, name);
}

void tb_input(tb_model *m, const char *name, int dtype, int ndim, const int64_t *dims) {
  room(m->graph.n_input);
  m->inputs[m->graph.n_input++] = value_info(m, name, dtype, ndim, dims);
}

void tb_output(tb_model *m, const char *name) {
  room(m->graph.n_output);
  m->outputs[m->graph.n_output++] = value_info(m, name, 0, 0, NULL);
}

static Onnx__TensorProto *tensor(tb_model *m, const char *name, int dtype, int ndim, const int64_t *dims) {
  Onnx__TensorProto *t = zalloc(m, sizeof *t);
  onnx__tensor_proto__init(t);
  t->name = sdup(m, name);
  t->has_data_type = 1;
  t->data_type = dtype;
  t->n_dims = (size_t)ndim;
  t->dims = zalloc(m, sizeof(int64_t) * (size_t)(ndim + 1));
  if (ndim > 0) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
  room(m->graph.n_initializer);
  m->inits[m->graph.n_initializer++] = t;
  return t;
}

void tb_init_f32(tb_model *m, const char *name, int ndim, const int64_t *dims, const float *data, size_t n) {
  Onnx__TensorProto *t = tensor(m, name, 1, ndim, dims);
  t->has_raw_data = 1;
  t->raw_data.len = n * 4;
  t->raw_data.data = zalloc(m, n * 4);
  memcpy(t->raw_data.data, data, n * 4);
}

void tb_init_i64(tb_model *m, const char *name, int ndim, const int64_t *dims, const int64_t *data, size_t n) {
  Onnx__TensorProto *t = tensor(m, name, 7, ndim, dims);
  t->n_int64_data = n;
  t->int64_data = zalloc(m, n * 8);
  memcpy(t->int64_data, data, n * 8);
}

void tb_init_external(tb_model *m, const char *name, int ndim, const int64_t *dims, const char *location) {
  Onnx__TensorProto *t = tensor(m, name, 1, ndim, dims);
  t->has_data_location = 1;
  t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  Onnx__StringStringEntryProto *e = zalloc(m, sizeof *e);
  onnx__string_string_entry_proto__init(e);
  e->key = sdup(m, "location");
  e->value = sdup(m, location);
  t->n_external_data = 1;
  t->external_data = zalloc(m, sizeof(void *));
  t->external_data[0] = e;
}

static size_t split(tb_model *m, const char *csv, char ***out) {
  size_t n = 1;
  for (const char *p = csv; *p; p++) n += *p == ',';
  char **v = zalloc(m, sizeof(char *) * n);
  char *copy = sdup(m, csv);
  size_t i = 0;
  /* empty items stay: "" names an omitted optional input or output */
  for (char *p = copy; p; i++) {
    v[i] = p;
    char *comma = strchr(p, ',');
    if (comma) *comma = 0;
    p = comma ? comma + 1 : NULL;
  }
  if (csv[0] == 0) i = 0;
  *out = v;
  return i;
}

tb_node *tb_add_node(tb_model *m, const char *op, const char *inputs, const char *outputs) {
  tb_node *n = zalloc(m, sizeof *n);
  onnx__node_proto__init(&n->pb);
  n->pb.op_type = sdup(m, op);
  char name[64];
  snprintf(name, sizeof name, "n%zu", m->graph.n_node);
  n->pb.name = sdup(m, name);
  n->pb.n_input = split(m, inputs, &n->pb.input);
  for (size_t i = 0; i < n->pb.n_input; i++)
    if (strcmp(n->pb.input[i], "-") == 0) n->pb.input[i] = "";
  n->pb.n_output = split(m, outputs, &n->pb.output);
  n->pb.attribute = n->attrs;
  room(m->graph.n_node);
  m->nodes[m->graph.n_node++] = &n->pb;
  return n;
}

static Onnx__AttributeProto *attr(tb_node *n, const char *name, int type) {
  Onnx__AttributeProto *a = calloc(1, sizeof *a);
  if (!a) abort();
  onnx__attribute_proto__init(a);
  a->name = strdup(name);
  a->has_type = 1;
  a->type = type;
  room(n->pb.n_attribute);
  n->attrs[n->pb.n_attribute++] = a;
  return a;
}

void tb_attr_int(tb_node *n, const char *name, int64_t v) {
  Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  a->has_i = 1;
  a->i = v;
}

void tb_attr_float(tb_node *n, const char *name, float v) {
  Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  a->has_f = 1;
  a->f = v;
}

void tb_attr_str(tb_node *n, const char *name, const char *v) {
  Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
  a->has_s = 1;
  a->s.len = strlen(v);
  a->s.data = (uint8_t *)strdup(v);
  if (!a->s.data) abort();
}

void tb_attr_ints(tb_node *n, const char *name, const int64_t *v, size_t count) {
  Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  a->n_ints = count;
  a->ints = malloc(sizeof(int64_t) * (count ? count : 1));
  if (!a->ints) abort();
  memcpy(a->ints, v, sizeof(int64_t) * count);
}

uint8_t *tb_pack(tb_model *m, size_t *len) {
  *len = onnx__model_proto__get_packed_size(&m->pb);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (!buf) abort();
  onnx__model_proto__pack(&m->pb, buf);
  return buf;
}

void tb_free(tb_model *m) {
  if (!m) return;
  for (size_t i = 0; i < m->graph.n_node; i++) {
    Onnx__NodeProto *np = m->nodes[i];
    for (size_t j = 0; j < np->n_attribute; j++) {
      free(np->attribute[j]->name);
      free(np->attribute[j]->ints);
      free(np->attribute[j]->s.data);
      free(np->attribute[j]);
    }
  }
  for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
  free(m);
}
