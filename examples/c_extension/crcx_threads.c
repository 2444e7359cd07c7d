/*
 * A Python extension in plain C that filters images with crcx's C API from its own
 * POSIX threads, one image per thread, all at once (docs/embedding.md).
 *
 * filter_in_threads(jobs, size) takes a list of (image, median_out, crc_out): 2-d
 * uint8 buffers of one shape per job (any strides). Each thread writes the 5x5
 * (size x size) median and CRC-MF at its defaults; the call returns each job's
 * (median status, CRC-MF status, message).
 * bad_window() calls the median with a window of side 0 and returns (status,
 * message): the error path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <string.h>

#include "crcx/crcx.h"

#define MAX_JOBS 64

typedef struct {
    crcx_array image, median, crc;
    crcx_window window;
    int median_status, crc_status;
    char message[256];
} job;

static void *run_job(void *argument)
{
    job *work = (job *)argument;
    work->median_status = crcx_median(&work->image, &work->median, &work->window,
                                      work->message, sizeof work->message);
    work->crc_status = crcx_crc_median(&work->image, &work->crc, NULL,
                                       work->message, sizeof work->message);
    return NULL;
}

/* A uint8 2-d buffer of `object` as a crcx_array; 0, or -1 with an exception set. */
static int as_array(PyObject *object, int writable, Py_buffer *view, crcx_array *array)
{
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0)
        return -1;
    if (view->ndim != 2 || view->itemsize != 1 || strcmp(view->format, "B") != 0) {
        PyErr_SetString(PyExc_ValueError, "expected 2-d uint8 buffers");
        PyBuffer_Release(view);
        return -1;
    }
    array->data = view->buf;
    array->dtype = CRCX_UINT8;
    array->ndim = 2;
    for (int axis = 0; axis < 2; axis++) {
        array->shape[axis] = view->shape[axis];
        array->strides[axis] = view->strides[axis];
    }
    return 0;
}

static PyObject *filter_in_threads(PyObject *self, PyObject *args)
{
    PyObject *jobs_list, *result = NULL;
    Py_ssize_t size, count, i, held = 0;
    job jobs[MAX_JOBS];
    Py_buffer views[3 * MAX_JOBS];
    pthread_t threads[MAX_JOBS];
    int started = 0;

    if (!PyArg_ParseTuple(args, "O!n", &PyList_Type, &jobs_list, &size))
        return NULL;
    count = PyList_GET_SIZE(jobs_list);
    if (count > MAX_JOBS)
        return PyErr_Format(PyExc_ValueError, "at most %d jobs", MAX_JOBS);
    memset(jobs, 0, sizeof jobs);
    for (i = 0; i < count; i++) {
        PyObject *image, *median, *crc;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(jobs_list, i), "OOO", &image, &median, &crc))
            goto done;
        if (as_array(image, 0, &views[held], &jobs[i].image) < 0)
            goto done;
        held++;
        if (as_array(median, 1, &views[held], &jobs[i].median) < 0)
            goto done;
        held++;
        if (as_array(crc, 1, &views[held], &jobs[i].crc) < 0)
            goto done;
        held++;
        jobs[i].window.size[0] = jobs[i].window.size[1] = size;
        jobs[i].window.mode = CRCX_REFLECT;
    }
    /* The threads call crcx without the GIL held by anyone here. */
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < count; i++)
        if (pthread_create(&threads[i], NULL, run_job, &jobs[i]) == 0)
            started++;
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    Py_END_ALLOW_THREADS
    if (started < count) {
        PyErr_SetString(PyExc_OSError, "could not start the threads");
        goto done;
    }
    result = PyList_New(count);
    for (i = 0; result != NULL && i < count; i++)
        PyList_SET_ITEM(result, i, Py_BuildValue("iis", jobs[i].median_status,
                                                 jobs[i].crc_status, jobs[i].message));
done:
    while (held > 0)
        PyBuffer_Release(&views[--held]);
    return result;
}

static PyObject *bad_window(PyObject *self, PyObject *unused)
{
    unsigned char pixels[16] = {0}, out[16];
    crcx_array image = {pixels, CRCX_UINT8, 2, {4, 4}, {4, 1}};
    crcx_array output = {out, CRCX_UINT8, 2, {4, 4}, {4, 1}};
    crcx_window window;
    char message[256] = "";
    int status;
    memset(&window, 0, sizeof window);   /* sides of 0: not a window */
    Py_BEGIN_ALLOW_THREADS
    status = crcx_median(&image, &output, &window, message, sizeof message);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("is", status, message);
}

static PyMethodDef methods[] = {
    {"filter_in_threads", filter_in_threads, METH_VARARGS,
     "Median and CRC-MF of each (image, median_out, crc_out), one thread each."},
    {"bad_window", bad_window, METH_NOARGS, "The median's error on a window of side 0."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "crcx_threads", NULL, -1, methods};

PyMODINIT_FUNC PyInit_crcx_threads(void)
{
    if (crcx_import() < 0)
        return NULL;
    return PyModule_Create(&module);
}
